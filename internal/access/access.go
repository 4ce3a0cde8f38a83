// Package access decides what a namespace may do with the operator's default Codat credentials.
// A Codat API key opens the whole Codat account, so when tenants share the operator's key the
// operator is what keeps them apart: the platform team grants the key to namespaces (by name, or
// by a label only it can set on Namespaces), and may narrow each namespace to some Codat companies
// with annotations on the Namespace (by id, or by a tag Codat holds for the company). Objects with
// credentials of their own (spec.credentialsRef) use their own account and are not limited here.
package access

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Annotations of a Namespace that narrow the Codat companies its objects may manage with the
// default credentials. Only who may change Namespaces (the platform team, not a namespace's
// editors) can set them.
const (
	// AnnotationCompanies lists company ids, comma-separated.
	AnnotationCompanies = "codat.io/allowed-companies"
	// AnnotationCompanyTags lists key=value pairs, comma-separated: a company with any of these
	// tags in Codat is allowed.
	AnnotationCompanyTags = "codat.io/allowed-company-tags"
)

// GrantedSelector is the namespace selector the shipped manifests and chart grant the default
// credentials by: a namespace labelled codat.io/default-credentials=granted.
const (
	LabelDefaultCredentials = "codat.io/default-credentials"
	GrantedSelector         = LabelDefaultCredentials + "=granted"
)

// Grant says which namespaces may use the default credentials. The zero Grant allows none.
type Grant struct {
	// Namespaces are granted by name.
	Namespaces []string
	// Selector grants the namespaces whose labels match; nil grants none by label.
	Selector labels.Selector
}

// ParseGrant reads the flags' values: a comma-separated list of namespaces and a label selector
// (Kubernetes' syntax, e.g. "codat.io/default-credentials=granted"). Empty values grant nothing.
func ParseGrant(namespaces []string, selector string) (Grant, error) {
	g := Grant{}
	for _, n := range namespaces {
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			return Grant{}, fmt.Errorf("%q is not a namespace name: %s", n, strings.Join(errs, "; "))
		}
		g.Namespaces = append(g.Namespaces, n)
	}
	if strings.TrimSpace(selector) != "" {
		s, err := labels.Parse(selector)
		if err != nil {
			return Grant{}, fmt.Errorf("label selector %q: %w", selector, err)
		}
		g.Selector = s
	}
	return g, nil
}

// Allows says whether the namespace may use the default credentials.
func (g Grant) Allows(ns *metav1.PartialObjectMetadata) bool {
	if ns == nil {
		return false
	}
	if slices.Contains(g.Namespaces, ns.Name) {
		return true
	}
	return g.Selector != nil && !g.Selector.Empty() && g.Selector.Matches(labels.Set(ns.Labels))
}

// Empty says whether the Grant allows no namespace at all.
func (g Grant) Empty() bool {
	return len(g.Namespaces) == 0 && (g.Selector == nil || g.Selector.Empty())
}

// HowToGrant tells, for a message, what the platform team does to grant a namespace.
func (g Grant) HowToGrant(namespace string) string {
	if g.Selector != nil && !g.Selector.Empty() {
		return fmt.Sprintf("label namespace %s to match the selector %q of --default-credentials-namespace-selector", namespace, g.Selector.String())
	}
	return fmt.Sprintf("add %s to --default-credentials-namespaces, or grant namespaces by label with --default-credentials-namespace-selector", namespace)
}

// Companies is the set of Codat companies a namespace may manage with the default credentials.
type Companies struct {
	// IDs are allowed by id.
	IDs []string
	// Tags allow a company that has any of them in Codat.
	Tags []Tag
}

// Tag is one key=value tag of a Codat company.
type Tag struct{ Key, Value string }

func (t Tag) String() string { return t.Key + "=" + t.Value }

// CompaniesOf reads a namespace's annotations. restricted is false when the namespace names no
// companies: every company of the account is allowed.
func CompaniesOf(ns *metav1.PartialObjectMetadata) (c Companies, restricted bool, err error) {
	ids, hasIDs := ns.Annotations[AnnotationCompanies]
	tags, hasTags := ns.Annotations[AnnotationCompanyTags]
	if !hasIDs && !hasTags {
		return Companies{}, false, nil
	}
	for _, id := range SplitList(ids) {
		c.IDs = append(c.IDs, strings.ToLower(id))
	}
	for _, pair := range SplitList(tags) {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return Companies{}, true, fmt.Errorf("annotation %s of namespace %s: %q is not key=value", AnnotationCompanyTags, ns.Name, pair)
		}
		c.Tags = append(c.Tags, Tag{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)})
	}
	return c, true, nil
}

// AllowsID says whether the company is allowed by its id.
func (c Companies) AllowsID(companyID string) bool {
	return slices.Contains(c.IDs, strings.ToLower(companyID))
}

// AllowsTags says whether a company with these tags is allowed.
func (c Companies) AllowsTags(tags map[string]string) bool {
	for _, t := range c.Tags {
		if v, ok := tags[t.Key]; ok && v == t.Value {
			return true
		}
	}
	return false
}

// Describe says, for a message, which companies are allowed.
func (c Companies) Describe() string {
	var parts []string
	if len(c.IDs) > 0 {
		parts = append(parts, "the companies "+strings.Join(c.IDs, ", "))
	}
	if len(c.Tags) > 0 {
		tags := make([]string, len(c.Tags))
		for i, t := range c.Tags {
			tags[i] = t.String()
		}
		parts = append(parts, "companies tagged "+strings.Join(tags, " or "))
	}
	if len(parts) == 0 {
		return "no company"
	}
	return strings.Join(parts, ", and ")
}

// SplitList splits a comma-separated list, as annotations and flags give them, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
