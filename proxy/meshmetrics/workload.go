package meshmetrics

import "strings"

// podSuffixChars are the characters Kubernetes puts in generated names
// (k8s.io/apimachinery's rand.String) and in pod-template-hash values.
const podSuffixChars = "bcdfghjklmnpqrstvwxz2456789"

// WorkloadOfPod guesses the workload of a pod from its name, for a proxy
// not told its workload: "web-7d4b9c8f6-x2v9q" (a Deployment's pod) and
// "agent-x2v9q" (a DaemonSet's, a Job's) give "web" and "agent", "db-0" (a
// StatefulSet's) gives "db"; any other name is its own workload.
func WorkloadOfPod(pod string) string {
	i := strings.LastIndexByte(pod, '-')
	if i <= 0 {
		return pod
	}
	base, last := pod[:i], pod[i+1:]
	if isOrdinal(last) {
		return base
	}
	if len(last) != 5 || !generated(last) {
		return pod
	}
	if j := strings.LastIndexByte(base, '-'); j > 0 {
		if hash := base[j+1:]; len(hash) >= 6 && len(hash) <= 10 && generated(hash) {
			return base[:j]
		}
	}
	return base
}

func generated(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune(podSuffixChars, c) {
			return false
		}
	}
	return true
}

func isOrdinal(s string) bool {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
