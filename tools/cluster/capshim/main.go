// offgridflow-runc is an OCI runtime wrapper for machines whose capability bounding set is smaller
// than the full set (a VM without CAP_SYS_RESOURCE, say). Docker 20.10 and containerd 1.6 ask runc
// for every known capability in a privileged container; runc then fails with "unable to apply caps:
// operation not permitted". This wrapper removes, from the bundle's config.json (create, run) or from
// the --process file (exec), every capability that the bounding set of this process lacks, and then
// hands over to the real runc with the same arguments. Where nothing is missing it changes nothing.
//
// Without CAP_SYS_RESOURCE a process may not lower an oom_score_adj either: the kubelet asks for -998
// on pod sandboxes and runc's init dies on the write ("can't get final child's PID from pipe: EOF").
// Such a request is raised to this process's own oom_score_adj, the lowest value it may set.
//
// Real runc: $OFFGRIDFLOW_REAL_RUNC, else the first of /usr/bin/runc, /usr/sbin/runc, /usr/local/sbin/runc.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// capabilityBits maps the names runc accepts to their bit numbers (linux/capability.h).
var capabilityBits = map[string]uint{
	"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
	"CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
	"CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
	"CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17,
	"CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21,
	"CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23, "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25,
	"CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28, "CAP_AUDIT_WRITE": 29,
	"CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32, "CAP_MAC_ADMIN": 33,
	"CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
	"CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}

func boundingSet() (uint64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if value, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			return strconv.ParseUint(strings.TrimSpace(value), 16, 64)
		}
	}
	return 0, fmt.Errorf("no CapBnd line in /proc/self/status")
}

// allowed keeps the names whose bit is in the bounding set; unknown names are kept (runc decides).
func allowed(names []any, bounding uint64) []any {
	kept := make([]any, 0, len(names))
	for _, item := range names {
		name, _ := item.(string)
		if bit, known := capabilityBits[name]; known && bounding&(1<<bit) == 0 {
			continue
		}
		kept = append(kept, item)
	}
	return kept
}

// filterProcess trims the capability lists of one OCI "process" object; reports whether it changed.
func filterProcess(process map[string]any, bounding uint64) bool {
	capabilities, ok := process["capabilities"].(map[string]any)
	if !ok {
		return false
	}
	changed := false
	for set, value := range capabilities {
		names, ok := value.([]any)
		if !ok {
			continue
		}
		kept := allowed(names, bounding)
		if len(kept) != len(names) {
			capabilities[set] = kept
			changed = true
		}
	}
	return changed
}

func rewrite(path string, bounding uint64, processKey bool) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var document map[string]any
	if err := json.Unmarshal(data, &document); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	process := document
	if processKey {
		process, _ = document["process"].(map[string]any)
		if process == nil {
			return nil
		}
	}
	changed := filterProcess(process, bounding)
	if bounding&(1<<capabilityBits["CAP_SYS_RESOURCE"]) == 0 && clampOOMScoreAdj(process, ownOOMScoreAdj()) {
		changed = true
	}
	if !changed {
		return nil
	}
	out, err := json.Marshal(document)
	if err != nil {
		return err
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, info.Mode().Perm())
}

// ownOOMScoreAdj is this process's oom_score_adj (0 when it cannot be read).
func ownOOMScoreAdj() int {
	data, err := os.ReadFile("/proc/self/oom_score_adj")
	if err != nil {
		return 0
	}
	value, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0
	}
	return value
}

// clampOOMScoreAdj raises a requested oomScoreAdj below floor to floor; reports whether it changed.
func clampOOMScoreAdj(process map[string]any, floor int) bool {
	requested, ok := process["oomScoreAdj"].(float64)
	if !ok || int(requested) >= floor {
		return false
	}
	process["oomScoreAdj"] = floor
	return true
}

// flagValue returns the value of --name/-short in args ("--name v" or "--name=v").
func flagValue(args []string, long, short string) string {
	for i, arg := range args {
		for _, flag := range []string{long, short} {
			if flag == "" {
				continue
			}
			if arg == flag && i+1 < len(args) {
				return args[i+1]
			}
			if value, ok := strings.CutPrefix(arg, flag+"="); ok {
				return value
			}
		}
	}
	return ""
}

func realRunc() (string, error) {
	if path := os.Getenv("OFFGRIDFLOW_REAL_RUNC"); path != "" {
		return path, nil
	}
	self, _ := os.Executable()
	for _, path := range []string{"/usr/bin/runc", "/usr/sbin/runc", "/usr/local/sbin/runc"} {
		if resolved, err := filepath.EvalSymlinks(path); err == nil && resolved != self {
			return path, nil
		}
	}
	return "", fmt.Errorf("offgridflow-runc: no runc found (set OFFGRIDFLOW_REAL_RUNC)")
}

func prepare(args []string) error {
	bounding, err := boundingSet()
	if err != nil {
		return err
	}
	for i, arg := range args {
		rest := args[i+1:]
		switch arg {
		case "create", "run":
			bundle := flagValue(rest, "--bundle", "-b")
			if bundle == "" {
				bundle = "."
			}
			return rewrite(filepath.Join(bundle, "config.json"), bounding, true)
		case "exec":
			if process := flagValue(rest, "--process", "-p"); process != "" {
				return rewrite(process, bounding, false)
			}
			return nil
		}
	}
	return nil
}

func main() {
	runc, err := realRunc()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := prepare(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "offgridflow-runc:", err)
		os.Exit(1)
	}
	argv := append([]string{runc}, os.Args[1:]...)
	if err := syscall.Exec(runc, argv, os.Environ()); err != nil {
		fmt.Fprintln(os.Stderr, "offgridflow-runc: exec", runc+":", err)
		os.Exit(1)
	}
}
