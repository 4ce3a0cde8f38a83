package main

import (
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestSetMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	defer debug.SetMemoryLimit(math.MaxInt64)
	dir := t.TempDir()
	write := func(v string) string {
		p := filepath.Join(dir, "memory.max")
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got := setMemoryLimit(write("268435456\n")); got != 214748364 {
		t.Fatalf("256 MiB container: soft limit %d, want 80%%", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 214748364 {
		t.Fatalf("the runtime's limit is %d", got)
	}
	for _, v := range []string{"max\n", "garbage", ""} {
		if got := setMemoryLimit(write(v)); got != 0 {
			t.Errorf("%q: soft limit %d, want none", v, got)
		}
	}
	if got := setMemoryLimit(filepath.Join(dir, "absent")); got != 0 {
		t.Errorf("no cgroup file: soft limit %d", got)
	}
	t.Setenv("GOMEMLIMIT", "100MiB")
	if got := setMemoryLimit(write("268435456")); got != 0 {
		t.Errorf("GOMEMLIMIT set: soft limit %d, want it left alone", got)
	}
}
