package injector

import (
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// cronJobSuffix is what the CronJob controller appends to a CronJob's
// name to name each Job: the scheduled time in minutes since the epoch.
var cronJobSuffix = regexp.MustCompile(`-[0-9]{8,10}$`)

// workloadOf names the workload that runs a pod, from its controller as
// the pod's metadata tells at admission: the Deployment of its ReplicaSet
// (the name less the pod-template-hash), the CronJob of its Job (the
// name less the schedule suffix), else the controller itself
// (StatefulSet, DaemonSet, Job, ReplicaSet). It is "" for a pod without a
// controller: the proxy then guesses from the pod's name. Metrics label
// by it, so it must not change from one pod, or one Job run, to the next.
func workloadOf(meta *metav1.ObjectMeta) string {
	owner := metav1.GetControllerOfNoCopy(meta)
	if owner == nil {
		return ""
	}
	switch owner.Kind {
	case "ReplicaSet":
		if hash := meta.Labels["pod-template-hash"]; hash != "" {
			if name, ok := strings.CutSuffix(owner.Name, "-"+hash); ok && name != "" {
				return name
			}
		}
	case "Job":
		if loc := cronJobSuffix.FindStringIndex(owner.Name); loc != nil && loc[0] > 0 {
			return owner.Name[:loc[0]]
		}
	}
	return owner.Name
}
