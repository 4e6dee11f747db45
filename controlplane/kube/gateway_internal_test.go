package kube

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestTrimSecretKeepsOnlyTheCertificate checks that the Secrets the
// Watcher's informer keeps hold the certificate and key and nothing
// else: no other data key, no annotation (kubectl's last-applied copy
// holds the whole Secret), no managed fields.
func TestTrimSecretKeepsOnlyTheCertificate(t *testing.T) {
	full := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cert", UID: "u1", ResourceVersion: "7",
			Labels:        map[string]string{"app": "web"},
			Annotations:   map[string]string{"kubectl.kubernetes.io/last-applied-configuration": "{...the key...}"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: []byte("cert"), corev1.TLSPrivateKeyKey: []byte("key"), "ca.crt": []byte("ca"), "password": []byte("hunter2")},
	}
	got, err := trimSecret(full)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "cert", UID: "u1", ResourceVersion: "7"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: []byte("cert"), corev1.TLSPrivateKeyKey: []byte("key")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("trimSecret kept\n%+v\nwant\n%+v", got, want)
	}
	if len(full.Data) != 4 {
		t.Error("trimSecret modified the Secret it was given")
	}
	other := &corev1.ConfigMap{}
	if got, _ := trimSecret(other); got != other {
		t.Error("trimSecret changed an object that is not a Secret")
	}
}
