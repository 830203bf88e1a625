// Replaces plugins/plugins.go of github.com/prometheus/prometheus when tools/cluster/build.sh builds
// Prometheus (go build -overlay; see build.sh). Upstream's file registers every service discovery;
// the offline kind cluster's Prometheus uses kubernetes_sd_configs only (deploy/kubernetes/overlays/
// kind/monitoring/prometheus.yml). The other discoveries (OpenStack, Scaleway, Hetzner, Linode,
// Docker, Consul, Nomad, ...) were a third of what Go compiled for Prometheus: cold, 195 s without
// this file and 127 s with it, here. file_sd and http_sd stay: plugins/minimum.go registers them.
// tests/scripts/test_cluster_toolchain_overlays.py holds the kind config's discoveries to this list.

package plugins

import (
	// Register kubernetes plugin.
	_ "github.com/prometheus/prometheus/discovery/kubernetes"
)
