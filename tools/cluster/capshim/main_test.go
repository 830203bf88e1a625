package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestCapabilitiesOutsideTheBoundingSetAreRemoved(t *testing.T) {
	bounding := uint64(1<<24) - 1 | 1<<25 // everything up to CAP_SYS_TIME except CAP_SYS_RESOURCE (24)
	got := allowed([]any{"CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_UNKNOWN_TO_US"}, bounding)
	want := []any{"CAP_CHOWN", "CAP_SYS_TIME", "CAP_UNKNOWN_TO_US"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("allowed = %v, want %v", got, want)
	}
}

func TestCreateRewritesTheBundleAndLeavesTheRestAlone(t *testing.T) {
	bundle := t.TempDir()
	config := map[string]any{
		"ociVersion": "1.0.2",
		"process": map[string]any{
			"args": []any{"sh"},
			"capabilities": map[string]any{
				"bounding":  []any{"CAP_CHOWN", "CAP_SYS_RESOURCE"},
				"effective": []any{"CAP_SYS_RESOURCE"},
			},
		},
	}
	data, _ := json.Marshal(config)
	path := filepath.Join(bundle, "config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rewrite(path, ^uint64(0)&^(1<<24), true); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	data, _ = os.ReadFile(path)
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	capabilities := got["process"].(map[string]any)["capabilities"].(map[string]any)
	if !reflect.DeepEqual(capabilities["bounding"], []any{"CAP_CHOWN"}) || len(capabilities["effective"].([]any)) != 0 {
		t.Fatalf("capabilities = %v", capabilities)
	}
	if got["ociVersion"] != "1.0.2" {
		t.Fatalf("other fields changed: %v", got)
	}
}

func TestTheBundleIsFoundInEitherFlagForm(t *testing.T) {
	for _, args := range [][]string{
		{"--root", "/run/x", "create", "--bundle", "/b", "id"},
		{"create", "--bundle=/b", "id"},
		{"run", "-b", "/b", "id"},
	} {
		if got := flagValue(args, "--bundle", "-b"); got != "/b" {
			t.Errorf("flagValue(%v) = %q", args, got)
		}
	}
}

func TestAnOOMScoreAdjBelowWhatThisProcessMaySetIsRaised(t *testing.T) {
	process := map[string]any{"oomScoreAdj": float64(-998)}
	if !clampOOMScoreAdj(process, 0) || process["oomScoreAdj"] != 0 {
		t.Fatalf("oomScoreAdj = %v, want 0", process["oomScoreAdj"])
	}
	allowedProcess := map[string]any{"oomScoreAdj": float64(1000)}
	if clampOOMScoreAdj(allowedProcess, 0) {
		t.Fatal("a raise needs no capability and must stay as asked")
	}
}
