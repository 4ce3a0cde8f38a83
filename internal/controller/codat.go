package controller

import (
	"context"

	"github.com/codat-operator/codat-operator/internal/codatclient"
)

// Codat is the part of Codat's API the reconciler uses: the six connection
// operations. *codatclient.Client implements it.
type Codat interface {
	CreateConnection(ctx context.Context, key codatclient.APIKey, companyID, platformKey string) (*codatclient.Connection, error)
	GetConnection(ctx context.Context, key codatclient.APIKey, companyID, connectionID string) (*codatclient.Connection, error)
	ListConnections(ctx context.Context, key codatclient.APIKey, companyID string) ([]codatclient.Connection, error)
	UnlinkConnection(ctx context.Context, key codatclient.APIKey, companyID, connectionID string) (*codatclient.Connection, error)
	UpdateAuthorization(ctx context.Context, key codatclient.APIKey, companyID, connectionID string, body map[string]string) (*codatclient.Connection, error)
	DeleteConnection(ctx context.Context, key codatclient.APIKey, companyID, connectionID string) error
}

var _ Codat = (*codatclient.Client)(nil)
