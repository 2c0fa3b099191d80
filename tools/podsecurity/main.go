// Command podsecurity evaluates pods against the Kubernetes Pod Security Standards with the API
// server's own checks (k8s.io/pod-security-admission, the code behind the PodSecurity admission
// plugin), at one level of the latest version.
//
// Input on stdin: a JSON array of Pod manifests. Output on stdout: a JSON array, one object per pod,
// {"name", "allowed", "forbidden": [{"reason", "detail"}]}. Exit 0 whether or not pods are allowed;
// exit 2 on bad input.
//
//	podsecurity [-level restricted|baseline|privileged] < pods.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

type forbidden struct {
	Reason string `json:"reason"`
	Detail string `json:"detail"`
}

type verdict struct {
	Name      string      `json:"name"`
	Allowed   bool        `json:"allowed"`
	Forbidden []forbidden `json:"forbidden"`
}

func main() {
	levelName := flag.String("level", "restricted", "restricted, baseline or privileged")
	flag.Parse()
	level, err := api.ParseLevel(*levelName)
	if err != nil {
		fmt.Fprintln(os.Stderr, "podsecurity:", err)
		os.Exit(2)
	}
	var pods []corev1.Pod
	if err := json.NewDecoder(os.Stdin).Decode(&pods); err != nil {
		fmt.Fprintln(os.Stderr, "podsecurity: stdin is not a JSON array of pods:", err)
		os.Exit(2)
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "podsecurity:", err)
		os.Exit(2)
	}
	version := api.LevelVersion{Level: level, Version: api.LatestVersion()}
	verdicts := make([]verdict, 0, len(pods))
	for i := range pods {
		pod := &pods[i]
		v := verdict{Name: pod.Name, Allowed: true, Forbidden: []forbidden{}}
		for _, result := range evaluator.EvaluatePod(version, &pod.ObjectMeta, &pod.Spec) {
			if !result.Allowed {
				v.Allowed = false
				v.Forbidden = append(v.Forbidden, forbidden{result.ForbiddenReason, result.ForbiddenDetail})
			}
		}
		verdicts = append(verdicts, v)
	}
	if err := json.NewEncoder(os.Stdout).Encode(verdicts); err != nil {
		fmt.Fprintln(os.Stderr, "podsecurity:", err)
		os.Exit(2)
	}
}
