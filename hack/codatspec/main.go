// Command codatspec copies, unchanged, the part of Codat's official OpenAPI spec that the
// simulator stands in for: the company and connection paths, the company.created,
// company.deleted, connection.* and client.rateLimit.* webhooks, and every component they
// reference. The tests check the simulator against the copy, so that `make test` needs nothing
// outside the repository.
//
//	go run ./hack/codatspec -in ../shared/codat/Codat-Platform.yaml -out internal/codatsim/testdata/codat-platform-connections.yaml
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// kept names what is copied from the spec's paths and webhooks.
var kept = map[string][]string{
	"paths": {
		"/companies",
		"/companies/{companyId}",
		"/companies/{companyId}/connections",
		"/companies/{companyId}/connections/{connectionId}",
		"/companies/{companyId}/connections/{connectionId}/authorization",
	},
	"webhooks": {
		"company.created", "company.deleted",
		"connection.created", "connection.connected", "connection.failed", "connection.disconnected",
		"connection.reconnected", "connection.deleted", "client.rateLimit.reached", "client.rateLimit.reset",
	},
}

func main() {
	in := flag.String("in", "../shared/codat/Codat-Platform.yaml", "Codat's OpenAPI spec (codatio/oas yaml/Codat-Platform.yaml)")
	out := flag.String("out", "internal/codatsim/testdata/codat-platform-connections.yaml", "where to write the subset")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "codatspec:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return err
	}
	subset, err := extract(doc.Content[0], in)
	if err != nil {
		return err
	}
	text, err := render(raw, subset)
	if err != nil {
		return err
	}
	return os.WriteFile(out, text, 0o644) //nolint:gosec // G306: a committed test fixture, readable like every file of the repository
}

// extract builds the subset of the spec root (read from in): its header fields, the kept paths
// and webhooks, and every component they reference.
func extract(root *yaml.Node, in string) (*yaml.Node, error) {
	components := field(root, "components")
	if components == nil {
		return nil, fmt.Errorf("%s has no components", in)
	}
	subset := &yaml.Node{Kind: yaml.MappingNode}
	for _, key := range []string{"openapi", "info", "servers", "security"} {
		if v := field(root, key); v != nil {
			appendField(subset, key, v)
		}
	}
	refs, err := copyKept(root, subset, in)
	if err != nil {
		return nil, err
	}
	keptComponents, err := followRefs(root, field(subset, "paths"), components, refs)
	if err != nil {
		return nil, err
	}
	appendField(subset, "components", componentsSubset(components, keptComponents))
	return subset, nil
}

// copyKept copies the paths and webhooks named in kept into subset, in that order, and returns
// the references they hold.
func copyKept(root, subset *yaml.Node, in string) ([]string, error) {
	var refs []string
	for _, section := range []string{"paths", "webhooks"} {
		from := field(root, section)
		to := &yaml.Node{Kind: yaml.MappingNode}
		for _, name := range kept[section] {
			v := field(from, name)
			if v == nil {
				return nil, fmt.Errorf("%s has no %s %q", in, section, name)
			}
			appendField(to, name, v)
			refs = append(refs, collectRefs(v)...)
		}
		appendField(subset, section, to)
	}
	return refs, nil
}

// followRefs resolves refs, and the references inside what they point at, until none is left. It
// returns the components to keep, by kind and name; a path that a reference points into is added
// to paths (the subset's) as it goes.
func followRefs(root, paths, components *yaml.Node, refs []string) (map[string]map[string]bool, error) {
	keptComponents := map[string]map[string]bool{}
	for len(refs) > 0 {
		ref := refs[0]
		refs = refs[1:]
		var more []string
		var err error
		if strings.HasPrefix(ref, "#/paths/") {
			more, err = keepPath(root, paths, ref)
		} else {
			more, err = keepComponent(components, keptComponents, ref)
		}
		if err != nil {
			return nil, err
		}
		refs = append(refs, more...)
	}
	return keptComponents, nil
}

// keepPath adds the path that ref points into (#/paths/<name>/...) to paths, whole, and returns
// its references; a path already there adds nothing.
func keepPath(root, paths *yaml.Node, ref string) ([]string, error) {
	name := strings.Split(strings.TrimPrefix(ref, "#/paths/"), "/")[0]
	name = strings.NewReplacer("~1", "/", "~0", "~", "%7B", "{", "%7D", "}").Replace(name)
	if field(paths, name) != nil {
		return nil, nil
	}
	v := field(field(root, "paths"), name)
	if v == nil {
		return nil, fmt.Errorf("reference %q points at nothing", ref)
	}
	appendField(paths, name, v)
	return collectRefs(v), nil
}

// keepComponent marks the component that ref points at (#/components/<kind>/<name>, or into it:
// the whole of it is kept) and returns its references; one already marked adds nothing.
func keepComponent(components *yaml.Node, keptComponents map[string]map[string]bool, ref string) ([]string, error) {
	parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
	if !strings.HasPrefix(ref, "#/components/") || len(parts) < 2 {
		return nil, fmt.Errorf("unsupported reference %q", ref)
	}
	kind, name := parts[0], parts[1]
	if keptComponents[kind][name] {
		return nil, nil
	}
	v := field(field(components, kind), name)
	if v == nil {
		return nil, fmt.Errorf("reference %q points at nothing", ref)
	}
	if keptComponents[kind] == nil {
		keptComponents[kind] = map[string]bool{}
	}
	keptComponents[kind][name] = true
	return collectRefs(v), nil
}

// componentsSubset is components with only the kept entries, in the spec's order; of the security
// schemes only auth_header, the one the kept operations use.
func componentsSubset(components *yaml.Node, keptComponents map[string]map[string]bool) *yaml.Node {
	subset := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i < len(components.Content); i += 2 {
		kind := components.Content[i].Value
		names := keptComponents[kind]
		if kind == "securitySchemes" {
			names = map[string]bool{"auth_header": true}
		}
		if len(names) == 0 {
			continue
		}
		appendField(subset, kind, entriesNamed(components.Content[i+1], names))
	}
	return subset
}

// entriesNamed is a mapping with the entries of m whose key is in names, in m's order.
func entriesNamed(m *yaml.Node, names map[string]bool) *yaml.Node {
	out := &yaml.Node{Kind: yaml.MappingNode}
	for j := 0; j < len(m.Content); j += 2 {
		if names[m.Content[j].Value] {
			out.Content = append(out.Content, m.Content[j], m.Content[j+1])
		}
	}
	return out
}

// render is the subset as YAML, under a header naming the source by its SHA-256 (of raw).
func render(raw []byte, subset *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	sum := sha256.Sum256(raw)
	fmt.Fprintf(&buf, "# The part of Codat's official OpenAPI spec (codatio/oas, yaml/Codat-Platform.yaml) that\n")
	fmt.Fprintf(&buf, "# codat-operator's simulator stands in for, copied unchanged by hack/codatspec.\n")
	fmt.Fprintf(&buf, "# Source SHA-256: %s\n", hex.EncodeToString(sum[:]))
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{subset}}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func field(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func appendField(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func collectRefs(n *yaml.Node) []string {
	var out []string
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "$ref" && n.Content[i+1].Kind == yaml.ScalarNode {
				out = append(out, n.Content[i+1].Value)
			}
		}
	}
	for _, c := range n.Content {
		out = append(out, collectRefs(c)...)
	}
	return out
}
