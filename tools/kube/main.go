// Package main keeps the five commands' packages in this module's graph so that `go mod tidy` pins
// everything they import; tools/cluster/build-kube builds the commands themselves from
// k8s.io/kubernetes/cmd/<name>. It is never run.
package main

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
	_ "k8s.io/kubectl/pkg/cmd"
)

func main() {}
