package plugin

import (
	"context"
	"io"
	"testing"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
)

// TestSubscriptions: by default specguard takes one request per container
// creation (CreateContainer); the exact mode adds PostCreateContainer, a
// validation section ValidateContainerAdjustment.
func TestSubscriptions(t *testing.T) {
	for name, tc := range map[string]struct {
		exact      bool
		validation bool
		want       []api.Event
		not        []api.Event
	}{
		"default": {want: []api.Event{api.Event_CREATE_CONTAINER, api.Event_REMOVE_CONTAINER, api.Event_REMOVE_POD_SANDBOX},
			not: []api.Event{api.Event_POST_CREATE_CONTAINER, api.Event_VALIDATE_CONTAINER_ADJUSTMENT}},
		"exact": {exact: true, want: []api.Event{api.Event_CREATE_CONTAINER, api.Event_POST_CREATE_CONTAINER},
			not: []api.Event{api.Event_VALIDATE_CONTAINER_ADJUSTMENT}},
		"validating": {validation: true, want: []api.Event{api.Event_CREATE_CONTAINER, api.Event_VALIDATE_CONTAINER_ADJUSTMENT},
			not: []api.Event{api.Event_POST_CREATE_CONTAINER}},
	} {
		t.Run(name, func(t *testing.T) {
			doc := "apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  mode: enforce\n"
			if tc.validation {
				doc += "  validation: {denyHooks: true}\n"
			}
			pol, err := policy.Parse("p.yaml", []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			l := logrus.New()
			l.SetOutput(io.Discard)
			p, err := New(Config{Policy: policy.NewStaticStore(pol), Tracker: restarts.NewTracker(nil), Log: logrus.NewEntry(l), ExactRestartCounts: tc.exact})
			if err != nil {
				t.Fatal(err)
			}
			mask, err := p.Configure(context.Background(), "", "containerd", "v2.4.2")
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range tc.want {
				if !mask.IsSet(e) {
					t.Errorf("not subscribed to %v", e)
				}
			}
			for _, e := range tc.not {
				if mask.IsSet(e) {
					t.Errorf("subscribed to %v", e)
				}
			}
		})
	}
}

// TestUndoneCreation tells containerd 2.4.2's undo of a failed creation
// from the removal of a container it created, in the shapes its NRI
// adaptation (internal/cri/nri) gives them.
func TestUndoneCreation(t *testing.T) {
	for name, tc := range map[string]struct {
		c    *api.Container
		want bool
	}{
		// UndoCreateContainer: built from the ID and spec; in no store.
		"undo of a failed creation": {&api.Container{Id: "c1", Name: "app", State: api.ContainerState_CONTAINER_UNKNOWN}, true},
		// An exited container: containerd maps no exited state to NRI's.
		"exited, removed":           {&api.Container{Id: "c1", State: api.ContainerState_CONTAINER_UNKNOWN, CreatedAt: 1733450000000000000}, false},
		"created, never started":    {&api.Container{Id: "c1", State: api.ContainerState_CONTAINER_CREATED, CreatedAt: 1}, false},
		"running, force-removed":    {&api.Container{Id: "c1", State: api.ContainerState_CONTAINER_RUNNING, CreatedAt: 1}, false},
		"stopped (another runtime)": {&api.Container{Id: "c1", State: api.ContainerState_CONTAINER_STOPPED}, false},
	} {
		if got := UndoneCreation(tc.c); got != tc.want {
			t.Errorf("%s: UndoneCreation = %v, want %v", name, got, tc.want)
		}
	}
}

// TestRuntimeSuppliedPolicy: a policy containerd hands over at Configure
// goes through the store (so it is reported like a reload) and decides the
// subscriptions; the --config file then cannot replace it; a bad one is
// refused and the policy in force stays.
func TestRuntimeSuppliedPolicy(t *testing.T) {
	store := parsePolicy(t, "  mode: enforce\n")
	fromFile := store.Current()
	var reports []error
	store.OnReload = func(_ *policy.Policy, err error) { reports = append(reports, err) }
	l := logrus.New()
	l.SetOutput(io.Discard)
	p, err := New(Config{Policy: store, Tracker: restarts.NewTracker(nil), Log: logrus.NewEntry(l)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.Configure(ctx, "kind: [", "containerd", "v2.4.2"); err == nil {
		t.Fatal("Configure accepted a policy that does not parse")
	}
	if store.Current() != fromFile || len(reports) != 1 || reports[0] == nil {
		t.Fatalf("a bad runtime policy: in force %q, reports %v; want the file's kept and one error reported", store.Current().Source, reports)
	}
	mask, err := p.Configure(ctx, "apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  validation: {denyHooks: true}\n", "containerd", "v2.4.2")
	if err != nil {
		t.Fatal(err)
	}
	if !mask.IsSet(api.Event_VALIDATE_CONTAINER_ADJUSTMENT) {
		t.Error("the supplied policy's validation section did not subscribe to ValidateContainerAdjustment")
	}
	supplied := store.Current()
	if supplied == fromFile || supplied.Validation == nil || len(reports) != 2 || reports[1] != nil {
		t.Fatalf("the supplied policy is not in force or not reported: %q, reports %v", supplied.Source, reports)
	}
	writePolicy(t, store.Path(), "  mode: audit\n")
	if _, err := store.Reload(); err == nil {
		t.Error("a reload of the file over the runtime's policy succeeded")
	}
	if store.Current() != supplied {
		t.Errorf("the file replaced the runtime's policy: %q in force", store.Current().Source)
	}
}
