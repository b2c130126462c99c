package main

import (
	_ "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/klog/v2"
	_ "sigs.k8s.io/controller-runtime"
	_ "sigs.k8s.io/sig-storage-lib-external-provisioner/v10/controller"
)

func main() {}
