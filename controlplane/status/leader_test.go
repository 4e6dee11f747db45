package status

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weftmesh/weft/api/v1alpha1"
	"github.com/weftmesh/weft/controlplane/model"
	"github.com/weftmesh/weft/controlplane/translate"
)

// statusManagers returns the field managers that wrote o's status, as the
// API server records them.
func (k *kube) statusManagers(t *testing.T, o client.Object) []string {
	t.Helper()
	k.get(t, o)
	var out []string
	for _, f := range o.GetManagedFields() {
		if f.Subresource == "status" {
			out = append(out, f.Manager)
		}
	}
	slices.Sort(out)
	return out
}

// leaseHolder returns the identity holding Lease name in weft-system.
func (k *kube) leaseHolder(t *testing.T, name string) (string, error) {
	var l coordinationv1.Lease
	if err := k.c.Get(t.Context(), client.ObjectKey{Namespace: v1alpha1.RootNamespace, Name: name}, &l); err != nil {
		return "", err
	}
	if l.Spec.HolderIdentity == nil {
		return "", nil
	}
	return *l.Spec.HolderIdentity, nil
}

// TestOnlyTheLeaderWrites runs two Writers against one API server, both
// fed every mesh: only the one holding the Lease writes (the API server
// records each write's field manager), and when it stops, the other takes
// the Lease over and writes.
func TestOnlyTheLeaderWrites(t *testing.T) {
	k := startKube(t)
	const lease = "status-leader"
	policy := func(name string) *v1alpha1.PeerAuthentication {
		return &v1alpha1.PeerAuthentication{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shop},
			Spec: v1alpha1.PeerAuthenticationSpec{
				Selector: &v1alpha1.WorkloadSelector{MatchLabels: map[string]string{"app": name}},
				MTLS:     &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSPermissive},
			},
		}
	}
	var pas []v1alpha1.PeerAuthentication
	type replica struct {
		w    *Writer
		stop func()
	}
	replicas := map[string]replica{}
	for _, id := range []string{"a", "b"} {
		w, stop := k.startWriter(t, id, lease)
		replicas[id] = replica{w, stop}
	}
	// add creates a policy and hands every running replica the mesh with
	// all the policies so far.
	add := func(name string) *v1alpha1.PeerAuthentication {
		p := policy(name)
		k.create(t, p)
		pas = append(pas, *p)
		m := testMesh(nil, model.Policies{PeerAuthentications: slices.Clone(pas)})
		for _, r := range replicas {
			r.w.Update(m, translate.Check(m))
		}
		return p
	}
	accepted := want{ConditionAccepted, "True", "Accepted"}

	first := add("leader-1")
	eventually(t, "the first policy's status", k.policyIs(t, first, accepted))
	leader, err := k.leaseHolder(t, lease)
	if err != nil {
		t.Fatal(err)
	}
	follower := map[string]string{"a": "b", "b": "a"}[leader]
	if follower == "" {
		t.Fatalf("Lease %s held by %q, want a or b", lease, leader)
	}
	t.Logf("leader %s, follower %s", leader, follower)
	if got := k.statusManagers(t, first); !slices.Equal(got, []string{"status-" + leader}) {
		t.Fatalf("status of %s written by %v, want by the leader status-%s only", first.Name, got, leader)
	}

	second := add("leader-2")
	eventually(t, "the second policy's status", k.policyIs(t, second, accepted))
	if got := k.statusManagers(t, second); !slices.Equal(got, []string{"status-" + leader}) {
		t.Fatalf("status of %s written by %v, want by the leader status-%s only", second.Name, got, leader)
	}
	if !replicas[leader].w.IsLeader() || replicas[follower].w.IsLeader() {
		t.Errorf("IsLeader: %s %v, %s %v; want true, false", leader, replicas[leader].w.IsLeader(), follower, replicas[follower].w.IsLeader())
	}

	// The leader stops (and releases the Lease): the follower takes over.
	replicas[leader].stop()
	delete(replicas, leader)
	third := add("leader-3")
	eventually(t, "the third policy's status, by the new leader", k.policyIs(t, third, accepted))
	if got := k.statusManagers(t, third); !slices.Equal(got, []string{"status-" + follower}) {
		t.Fatalf("status of %s written by %v, want by the new leader status-%s only", third.Name, got, follower)
	}
	eventually(t, "the Lease's holder", func() error {
		if h, err := k.leaseHolder(t, lease); err != nil || h != follower {
			return fmt.Errorf("holder %q (%w), want %s", h, err, follower)
		}
		return nil
	})
	if !replicas[follower].w.IsLeader() {
		t.Error("IsLeader() = false for the new leader")
	}
	// The new leader found the first policies' status right: it did not
	// write them.
	if got := k.statusManagers(t, first); !slices.Equal(got, []string{"status-" + leader}) {
		t.Errorf("status of %s written by %v, want by the old leader status-%s only", first.Name, got, leader)
	}
}

// TestLosingTheLeaseStopsWrites takes the Lease from a leading Writer (as
// a replica that could not renew it would lose it): the Writer stops
// leading without stopping, campaigns again, and once the Lease expires
// leads and writes again.
func TestLosingTheLeaseStopsWrites(t *testing.T) {
	k := startKube(t)
	const lease = "status-stolen"
	w, _ := k.startWriter(t, "a", lease)
	var pas []v1alpha1.PeerAuthentication
	add := func(name string) *v1alpha1.PeerAuthentication {
		p := &v1alpha1.PeerAuthentication{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shop},
			Spec: v1alpha1.PeerAuthenticationSpec{
				Selector: &v1alpha1.WorkloadSelector{MatchLabels: map[string]string{"app": name}},
				MTLS:     &v1alpha1.MutualTLS{Mode: v1alpha1.MTLSStrict},
			},
		}
		k.create(t, p)
		pas = append(pas, *p)
		m := testMesh(nil, model.Policies{PeerAuthentications: slices.Clone(pas)})
		w.Update(m, translate.Check(m))
		return p
	}
	accepted := want{ConditionAccepted, "True", "Accepted"}
	eventually(t, "the first policy's status", k.policyIs(t, add("stolen-1"), accepted))

	// Another holder takes the Lease for 10 s.
	var l coordinationv1.Lease
	if err := k.c.Get(t.Context(), client.ObjectKey{Namespace: v1alpha1.RootNamespace, Name: lease}, &l); err != nil {
		t.Fatal(err)
	}
	now := metav1.NewMicroTime(time.Now())
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds = ptr("thief"), ptr(int32(10))
	l.Spec.AcquireTime, l.Spec.RenewTime = &now, &now
	if err := k.c.Update(t.Context(), &l); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the Writer noticing it lost the Lease", func() error {
		if w.IsLeader() {
			return errors.New("IsLeader() = true after the Lease was taken")
		}
		return nil
	})

	second := add("stolen-2")
	eventually(t, "the second policy's status, once the Writer leads again", k.policyIs(t, second, accepted))
	if h, err := k.leaseHolder(t, lease); err != nil || h != "a" {
		t.Errorf("Lease holder %q (%v), want a", h, err)
	}
	if !w.IsLeader() {
		t.Error("IsLeader() = false after writing")
	}
}
