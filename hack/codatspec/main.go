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
	root := doc.Content[0]
	components := field(root, "components")
	if components == nil {
		return fmt.Errorf("%s has no components", in)
	}

	subset := &yaml.Node{Kind: yaml.MappingNode}
	for _, key := range []string{"openapi", "info", "servers", "security"} {
		if v := field(root, key); v != nil {
			appendField(subset, key, v)
		}
	}
	var refs []string
	for _, section := range []string{"paths", "webhooks"} {
		from := field(root, section)
		to := &yaml.Node{Kind: yaml.MappingNode}
		for _, name := range kept[section] {
			v := field(from, name)
			if v == nil {
				return fmt.Errorf("%s has no %s %q", in, section, name)
			}
			appendField(to, name, v)
			refs = append(refs, collectRefs(v)...)
		}
		appendField(subset, section, to)
	}

	// Copy every referenced component, following references inside components too. A reference
	// may point into a component (#/components/schemas/X/definitions/y): the whole of X is kept.
	// One may point into another path's operation: that path is kept whole as well.
	keptComponents := map[string]map[string]bool{}
	paths := field(subset, "paths")
	for len(refs) > 0 {
		ref := refs[0]
		refs = refs[1:]
		if strings.HasPrefix(ref, "#/paths/") {
			name := strings.Split(strings.TrimPrefix(ref, "#/paths/"), "/")[0]
			name = strings.NewReplacer("~1", "/", "~0", "~", "%7B", "{", "%7D", "}").Replace(name)
			if field(paths, name) == nil {
				v := field(field(root, "paths"), name)
				if v == nil {
					return fmt.Errorf("reference %q points at nothing", ref)
				}
				appendField(paths, name, v)
				refs = append(refs, collectRefs(v)...)
			}
			continue
		}
		parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
		if !strings.HasPrefix(ref, "#/components/") || len(parts) < 2 {
			return fmt.Errorf("unsupported reference %q", ref)
		}
		kind, name := parts[0], parts[1]
		if keptComponents[kind][name] {
			continue
		}
		v := field(field(components, kind), name)
		if v == nil {
			return fmt.Errorf("reference %q points at nothing", ref)
		}
		if keptComponents[kind] == nil {
			keptComponents[kind] = map[string]bool{}
		}
		keptComponents[kind][name] = true
		refs = append(refs, collectRefs(v)...)
	}
	subsetComponents := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i < len(components.Content); i += 2 {
		kind := components.Content[i].Value
		names := keptComponents[kind]
		if kind == "securitySchemes" {
			names = map[string]bool{"auth_header": true}
		}
		if len(names) == 0 {
			continue
		}
		section := &yaml.Node{Kind: yaml.MappingNode}
		entries := components.Content[i+1]
		for j := 0; j < len(entries.Content); j += 2 {
			if names[entries.Content[j].Value] {
				section.Content = append(section.Content, entries.Content[j], entries.Content[j+1])
			}
		}
		appendField(subsetComponents, kind, section)
	}
	appendField(subset, "components", subsetComponents)

	var buf bytes.Buffer
	sum := sha256.Sum256(raw)
	fmt.Fprintf(&buf, "# The part of Codat's official OpenAPI spec (codatio/oas, yaml/Codat-Platform.yaml) that\n")
	fmt.Fprintf(&buf, "# codat-operator's simulator stands in for, copied unchanged by hack/codatspec.\n")
	fmt.Fprintf(&buf, "# Source SHA-256: %s\n", hex.EncodeToString(sum[:]))
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{subset}}); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644) //nolint:gosec // G306: a committed test fixture, readable like every file of the repository
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
