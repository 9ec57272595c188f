package storetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
)

// testOrganiserKeys: keys are stored by ID (unique across organisers), listed per
// organiser oldest first in pages, and revoked by update.
func testOrganiserKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	key := func(org, id string, created time.Time) *rallyv1.OrganiserKey {
		return &rallyv1.OrganiserKey{
			Name:       "organisers/" + org + "/keys/" + id,
			Algorithm:  rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519,
			PublicKey:  []byte(strings.Repeat(id, 32)[:32]),
			CreateTime: timestamppb.New(created),
		}
	}
	for _, k := range []*rallyv1.OrganiserKey{
		key("alma", "k2", base.Add(time.Minute)),
		key("alma", "k1", base),
		key("alma", "k3", base.Add(2*time.Minute)),
		key("bota", "k4", base),
	} {
		if err := s.CreateOrganiserKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateOrganiserKey(ctx, key("bota", "k1", base)); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("key IDs are unique across organisers: %v, want ErrAlreadyExists", err)
	}
	got, err := s.GetOrganiserKey(ctx, "k4")
	if err != nil || got.GetName() != "organisers/bota/keys/k4" || len(got.GetPublicKey()) != 32 {
		t.Fatalf("get by ID: %v, %v", got, err)
	}
	var names []string
	token := ""
	for range 5 {
		page, err := s.ListOrganiserKeys(ctx, store.OrganiserKeyQuery{Organiser: "organisers/alma", PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page.Items {
			names = append(names, store.ID(k.GetName()))
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if strings.Join(names, ",") != "k1,k2,k3" {
		t.Errorf("alma's keys in pages of 2: %v, want k1,k2,k3 (oldest first, no other organiser's)", names)
	}
	if _, err := s.ListOrganiserKeys(ctx, store.OrganiserKeyQuery{Organiser: "organisers/bota", PageSize: 2, PageToken: "garbage"}); !errors.Is(err, store.ErrInvalidPageToken) {
		t.Errorf("garbage page token: %v, want ErrInvalidPageToken", err)
	}
	revoked, err := s.UpdateOrganiserKey(ctx, "organisers/alma/keys/k1", func(k *rallyv1.OrganiserKey) error {
		k.RevokeTime = timestamppb.New(base.Add(time.Hour))
		return nil
	})
	if err != nil || revoked.GetRevokeTime() == nil {
		t.Fatalf("revoke: %v, %v", revoked, err)
	}
	if got, err := s.GetOrganiserKey(ctx, "organisers/alma/keys/k1"); err != nil || got.GetRevokeTime() == nil {
		t.Fatalf("revocation not stored: %v, %v", got, err)
	}
	if _, err := s.GetOrganiserKey(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown key: %v, want ErrNotFound", err)
	}
	if page, err := s.ListOrganiserKeys(ctx, store.OrganiserKeyQuery{Organiser: "organisers/nobody", PageSize: 10}); err != nil || len(page.Items) != 0 {
		t.Errorf("keys of an organiser without any: %v, %v", page.Items, err)
	}
}
