package controller

import (
	"context"

	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// Connector binds Codat's API to the credentials and the company of one
// object. The reconciler connects once per pass; everything it then asks of
// Codat goes through the Company it got.
type Connector interface {
	Connect(key codatclient.APIKey, companyID string) Company
}

// Company is the part of Codat's connection API the reconciler uses, for one
// company, under one API key. Errors are *codatclient.Error; ClassOf says
// whether retrying can help.
type Company interface {
	Create(ctx context.Context, platformKey string) (*codatclient.Connection, error)
	Get(ctx context.Context, connectionID string) (*codatclient.Connection, error)
	List(ctx context.Context) ([]codatclient.Connection, error)
	Unlink(ctx context.Context, connectionID string) (*codatclient.Connection, error)
	UpdateAuthorization(ctx context.Context, connectionID string, body map[string]string) (*codatclient.Connection, error)
	Delete(ctx context.Context, connectionID string) error
	// Tags reads the company's tags (Codat's get-company).
	Tags(ctx context.Context) (map[string]string, error)
}

// ClientConnector connects through one shared codatclient.Client, so that its
// rate limit and per-company cap hold across all objects.
type ClientConnector struct {
	Client *codatclient.Client
}

// Connect returns the company's API under the key.
func (c ClientConnector) Connect(key codatclient.APIKey, companyID string) Company {
	return &clientCompany{client: c.Client, key: key, companyID: companyID}
}

type clientCompany struct {
	client    *codatclient.Client
	key       codatclient.APIKey
	companyID string
}

func (c *clientCompany) Create(ctx context.Context, platformKey string) (*codatclient.Connection, error) {
	return c.client.CreateConnection(ctx, c.key, c.companyID, platformKey)
}

func (c *clientCompany) Get(ctx context.Context, id string) (*codatclient.Connection, error) {
	return c.client.GetConnection(ctx, c.key, c.companyID, id)
}

func (c *clientCompany) List(ctx context.Context) ([]codatclient.Connection, error) {
	return c.client.ListConnections(ctx, c.key, c.companyID)
}

func (c *clientCompany) Unlink(ctx context.Context, id string) (*codatclient.Connection, error) {
	return c.client.UnlinkConnection(ctx, c.key, c.companyID, id)
}

func (c *clientCompany) UpdateAuthorization(ctx context.Context, id string, body map[string]string) (*codatclient.Connection, error) {
	return c.client.UpdateAuthorization(ctx, c.key, c.companyID, id, body)
}

func (c *clientCompany) Delete(ctx context.Context, id string) error {
	return c.client.DeleteConnection(ctx, c.key, c.companyID, id)
}

func (c *clientCompany) Tags(ctx context.Context) (map[string]string, error) {
	company, err := c.client.GetCompany(ctx, c.key, c.companyID)
	if err != nil {
		return nil, err
	}
	return company.Tags, nil
}

// CompanyConnector binds Codat's company API to an API key.
type CompanyConnector interface {
	Companies(key codatclient.APIKey) Companies
}

// Companies is the part of Codat's company API the CodatCompany reconciler uses, under one API
// key. Errors are *codatclient.Error.
type Companies interface {
	List(ctx context.Context, filter codatclient.CompanyFilter) ([]codatclient.Company, error)
	Create(ctx context.Context, req codatclient.CompanyRequest) (*codatclient.Company, error)
	Get(ctx context.Context, companyID string) (*codatclient.Company, error)
	Replace(ctx context.Context, companyID string, req codatclient.CompanyRequest) (*codatclient.Company, error)
	Delete(ctx context.Context, companyID string) error
}

// Companies returns the company API under the key.
func (c ClientConnector) Companies(key codatclient.APIKey) Companies {
	return clientCompanies{client: c.Client, key: key}
}

type clientCompanies struct {
	client *codatclient.Client
	key    codatclient.APIKey
}

func (c clientCompanies) List(ctx context.Context, filter codatclient.CompanyFilter) ([]codatclient.Company, error) {
	return c.client.ListCompanies(ctx, c.key, filter)
}

func (c clientCompanies) Create(ctx context.Context, req codatclient.CompanyRequest) (*codatclient.Company, error) {
	return c.client.CreateCompany(ctx, c.key, req)
}

func (c clientCompanies) Get(ctx context.Context, id string) (*codatclient.Company, error) {
	return c.client.GetCompany(ctx, c.key, id)
}

func (c clientCompanies) Replace(ctx context.Context, id string, req codatclient.CompanyRequest) (*codatclient.Company, error) {
	return c.client.ReplaceCompany(ctx, c.key, id, req)
}

func (c clientCompanies) Delete(ctx context.Context, id string) error {
	return c.client.DeleteCompany(ctx, c.key, id)
}
