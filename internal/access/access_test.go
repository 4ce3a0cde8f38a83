package access

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func namespace(name string, labels, annotations map[string]string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations}}
}

func TestGrant(t *testing.T) {
	byLabel, err := ParseGrant(nil, "codat.io/default-credentials=granted")
	if err != nil {
		t.Fatal(err)
	}
	byName, err := ParseGrant([]string{"team-a"}, "")
	if err != nil {
		t.Fatal(err)
	}
	granted := map[string]string{"codat.io/default-credentials": "granted"}
	for _, tc := range []struct {
		what  string
		grant Grant
		ns    *metav1.PartialObjectMetadata
		want  bool
	}{
		{"nothing granted", Grant{}, namespace("team-a", granted, nil), false},
		{"the label", byLabel, namespace("team-b", granted, nil), true},
		{"another value of the label", byLabel, namespace("team-b", map[string]string{"codat.io/default-credentials": "no"}, nil), false},
		{"no labels", byLabel, namespace("team-b", nil, nil), false},
		{"by name", byName, namespace("team-a", nil, nil), true},
		{"another name", byName, namespace("team-b", granted, nil), false},
		{"no namespace", byLabel, nil, false},
	} {
		if got := tc.grant.Allows(tc.ns); got != tc.want {
			t.Errorf("%s: Allows = %v, want %v", tc.what, got, tc.want)
		}
	}
	for _, bad := range []struct {
		names    []string
		selector string
	}{{[]string{"Team_A"}, ""}, {nil, "a in (b"}} {
		if _, err := ParseGrant(bad.names, bad.selector); err == nil {
			t.Errorf("ParseGrant(%q, %q) accepted", bad.names, bad.selector)
		}
	}
}

func TestCompanies(t *testing.T) {
	c, restricted, err := CompaniesOf(namespace("team-a", nil, map[string]string{
		AnnotationCompanies:   " 8A210B68-6988-11ed-a1eb-0242ac120002 ,, 2f4e1c3a-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
		AnnotationCompanyTags: "tenant=acme, region = uk",
	}))
	if err != nil || !restricted {
		t.Fatalf("CompaniesOf: %v, restricted %v", err, restricted)
	}
	if !c.AllowsID("8a210b68-6988-11ed-a1eb-0242ac120002") || c.AllowsID("7c9e6679-7425-40de-944b-e07fc1f90ae7") {
		t.Errorf("ids: %+v", c.IDs)
	}
	if !c.AllowsTags(map[string]string{"region": "uk"}) || c.AllowsTags(map[string]string{"tenant": "globex"}) || c.AllowsTags(nil) {
		t.Errorf("tags: %+v", c.Tags)
	}
	if _, restricted, _ := CompaniesOf(namespace("team-b", nil, nil)); restricted {
		t.Error("a namespace without the annotations is restricted")
	}
	if c, restricted, _ := CompaniesOf(namespace("team-c", nil, map[string]string{AnnotationCompanies: ""})); !restricted || c.AllowsID("") {
		t.Error("an empty list must allow no company")
	}
	if _, _, err := CompaniesOf(namespace("team-d", nil, map[string]string{AnnotationCompanyTags: "tenant"})); err == nil {
		t.Error("a tag without a value was accepted")
	}
}

func TestTagCacheCostsOneCallPerCompanyPerHour(t *testing.T) {
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	c := &TagCache{Now: func() time.Time { return now }}
	var calls atomic.Int64
	fetch := func(context.Context) (map[string]string, error) { //nolint:unparam // the signature TagCache takes
		calls.Add(1)
		time.Sleep(10 * time.Millisecond) // concurrent passes ask while the call is out
		return map[string]string{"tenant": "acme"}, nil
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if tags, err := c.Tags(context.Background(), "company-a", fetch); err != nil || tags["tenant"] != "acme" {
				t.Errorf("Tags = %v, %v", tags, err)
			}
		})
	}
	wg.Wait()
	now = now.Add(59 * time.Minute)
	_, _ = c.Tags(context.Background(), "company-a", fetch)
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls for one company within the hour, want 1", n)
	}
	now = now.Add(time.Minute)
	_, _ = c.Tags(context.Background(), "company-a", fetch)
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d calls after an hour, want 2", n)
	}

	failing := func(context.Context) (map[string]string, error) { calls.Add(1); return nil, errors.New("503") }
	_, err1 := c.Tags(context.Background(), "company-b", failing)
	_, err2 := c.Tags(context.Background(), "company-b", failing)
	if err1 == nil || err2 == nil || calls.Load() != 4 {
		t.Fatalf("a failed fetch was remembered: errors %v, %v; %d calls", err1, err2, calls.Load())
	}
}

func TestSplitList(t *testing.T) {
	got := SplitList(" team-a, ,team-b,")
	if len(got) != 2 || got[0] != "team-a" || got[1] != "team-b" {
		t.Fatalf("SplitList = %q, want [team-a team-b]", got)
	}
}
