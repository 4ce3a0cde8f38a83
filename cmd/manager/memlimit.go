package main

import (
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupMemoryMax is where cgroup v2 says the container's memory limit.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// memoryLimitShare of the container's memory limit is given to Go's soft memory limit: the rest
// is for what Go does not count (the binary's mapped text, thread stacks outside Go) and spikes.
const memoryLimitShare = 0.8

// setMemoryLimit makes the garbage collector work harder before the container reaches its
// memory limit, instead of letting the heap double (GOGC) past it and the kernel kill the pod.
// GOMEMLIMIT, when set, wins. It returns the limit set, or 0 when none was.
func setMemoryLimit(path string) int64 {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0
	}
	raw, err := os.ReadFile(path) //nolint:gosec // a fixed path, or a test's file
	if err != nil {
		return 0
	}
	v := strings.TrimSpace(string(raw))
	if v == "max" {
		return 0
	}
	limit, err := strconv.ParseInt(v, 10, 64)
	if err != nil || limit <= 0 || limit == math.MaxInt64 {
		return 0
	}
	soft := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(soft)
	return soft
}
