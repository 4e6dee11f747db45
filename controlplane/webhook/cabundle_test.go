package webhook

import (
	"encoding/json"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
)

func TestBundleOps(t *testing.T) {
	bundle := []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
	hook := func(name string, caBundle []byte) admissionregistrationv1.MutatingWebhook {
		return admissionregistrationv1.MutatingWebhook{Name: name, ClientConfig: admissionregistrationv1.WebhookClientConfig{CABundle: caBundle}}
	}
	tests := []struct {
		name  string
		hooks []admissionregistrationv1.MutatingWebhook
		want  string
	}{
		{"up to date", []admissionregistrationv1.MutatingWebhook{hook("a", bundle)}, `null`},
		{"no webhooks", nil, `null`},
		{"only the stale ones", []admissionregistrationv1.MutatingWebhook{hook("a", bundle), hook("b", nil), hook("c", []byte("old"))},
			`[{"op":"test","path":"/webhooks/1/name","value":"b"},{"op":"add","path":"/webhooks/1/clientConfig/caBundle","value":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkFBQUEKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="},` +
				`{"op":"test","path":"/webhooks/2/name","value":"c"},{"op":"add","path":"/webhooks/2/clientConfig/caBundle","value":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkFBQUEKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops := bundleOps(&admissionregistrationv1.MutatingWebhookConfiguration{Webhooks: tt.hooks}, bundle)
			got, err := json.Marshal(ops)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("patch\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
