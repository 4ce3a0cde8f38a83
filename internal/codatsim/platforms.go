package codatsim

import (
	"crypto/sha256"
	"fmt"
)

// Source types Codat documents for integrations.
const (
	SourceTypeAccounting = "Accounting"
	SourceTypeBanking    = "Banking"
	SourceTypeCommerce   = "Commerce"
)

// Platform is an integration the simulator can create connections for.
type Platform struct {
	Key        string `json:"key"`        // four lowercase letters, e.g. "mqjo"
	Name       string `json:"name"`       // platformName of its connections
	SourceType string `json:"sourceType"` // e.g. "Accounting"
	// IntegrationID is the integrationId of its connections; derived from Key when empty.
	IntegrationID string `json:"integrationId,omitempty"`
}

// DefaultPlatforms are the platform keys Codat documents (CODAT-API.md section 8), plus Basiq
// (dfxm), the key of the spec's examples.
func DefaultPlatforms() []Platform {
	acc, com, bank := SourceTypeAccounting, SourceTypeCommerce, SourceTypeBanking
	return []Platform{
		{Key: "mqjo", Name: "Sandbox", SourceType: acc},
		{Key: "gbol", Name: "Xero", SourceType: acc},
		{Key: "qhyg", Name: "QuickBooks Online", SourceType: acc},
		{Key: "ndsk", Name: "QuickBooks Online Sandbox", SourceType: acc},
		{Key: "pqsw", Name: "QuickBooks Desktop", SourceType: acc},
		{Key: "akxx", Name: "Oracle NetSuite", SourceType: acc},
		{Key: "knfz", Name: "Sage Intacct", SourceType: acc},
		{Key: "tgff", Name: "Sage Accounting", SourceType: acc},
		{Key: "hbql", Name: "Sage 50 (UK)", SourceType: acc},
		{Key: "trji", Name: "Dynamics 365 Business Central", SourceType: acc},
		{Key: "vxvy", Name: "FreshBooks", SourceType: acc},
		{Key: "fbrh", Name: "FreeAgent", SourceType: acc},
		{Key: "rwuv", Name: "Zoho Books", SourceType: acc},
		{Key: "pdvj", Name: "MYOB Business", SourceType: acc},
		{Key: "pbtz", Name: "Wave", SourceType: acc},
		{Key: "aiwb", Name: "Commerce Sandbox", SourceType: com},
		{Key: "exgd", Name: "Stripe", SourceType: com},
		{Key: "yzth", Name: "Stripe Test", SourceType: com},
		{Key: "fztf", Name: "Shopify", SourceType: com},
		{Key: "zsth", Name: "Square", SourceType: com},
		{Key: "xcwv", Name: "Square Sandbox", SourceType: com},
		{Key: "suuo", Name: "Plaid", SourceType: bank},
		{Key: "upvr", Name: "TrueLayer", SourceType: bank},
		{Key: "dfxm", Name: "Basiq", SourceType: bank},
	}
}

// stableUUID derives a UUID-shaped id from a name, so that ids of a platform never change.
func stableUUID(kind, name string) string {
	h := sha256.Sum256([]byte("codatsim/" + kind + "/" + name))
	return formatUUID(h[:16])
}

// formatUUID formats 16 bytes as a version 4, variant 1 UUID.
func formatUUID(b []byte) string {
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
