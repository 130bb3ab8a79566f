// Command pause is the pod sandbox's process for the real-node tests: it holds the pod's
// namespaces, reaps orphans (it is PID 1 when a pod shares its PID namespace) and exits 0 on
// SIGINT or SIGTERM. Built here because no registry is reachable to pull one. Arguments, when
// given, are printed one per line first, so a test pod from this image has a log to read.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for _, line := range os.Args[1:] {
		fmt.Println(line)
	}
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
