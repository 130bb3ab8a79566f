//go:build tools

// Package tools pins what this wrapper module builds: the control plane and node commands of
// k8s.io/kubernetes, the etcd server and helm, in one module so that the libraries they share
// (client-go, apimachinery, grpc, ...) are compiled once, at one version. kwok and kwokctl
// stay in go/kwok: v0.7.0 does not build against the v0.35 libraries.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "helm.sh/helm/v3/cmd/helm"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
