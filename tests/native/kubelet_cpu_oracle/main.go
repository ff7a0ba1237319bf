// Command kubeletcpuoracle answers "which CPUs would the kubelet pick?" with the kubelet's own
// code (k8s.io/kubernetes v1.37.2, pkg/kubelet/cm/cpumanager), so that drafast's Rust port can
// be checked against it case by case.
//
// The picking functions are unexported, and `go build -overlay` refuses to add files under the
// module cache, so the package drafast.dev/kubeletcpuoracle/cpumanager exists only in the build
// directory the test fixture (tests/native/kubelet_oracle.py) makes: the kubelet's own
// cpu_assignment.go copied verbatim from the module cache, plus a generated two-function
// exporting file. Everything else (topology, cpuset) is the kubelet's module as published. No
// Kubernetes code is committed here.
//
// Protocol: one JSON request per stdin line, one JSON answer per stdout line, in order:
//
//	{"cpus":[0,1],"sockets":[0,0],"numa_nodes":[0,0],"cores":[0,0],"uncores":[0,0],
//	 "free":"0-1","count":1,"mode":"packed"|"distributed","prefer_uncore":true,"group_size":1}
//	-> {"cpus":"0"} | {"error":"..."} | {"hang":true}
//
// "hang" means the kubelet did not answer within the time limit (it loops forever on some
// distributed inputs); the spinning goroutine is abandoned and dies when stdin closes.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"drafast.dev/kubeletcpuoracle/cpumanager"
	"k8s.io/kubernetes/pkg/kubelet/cm/cpumanager/topology"
	"k8s.io/utils/cpuset"
)

const hangAfter = 2 * time.Second

type request struct {
	CPUs         []int  `json:"cpus"`
	Sockets      []int  `json:"sockets"`
	NUMANodes    []int  `json:"numa_nodes"`
	Cores        []int  `json:"cores"`
	Uncores      []int  `json:"uncores"`
	Free         string `json:"free"`
	Count        int    `json:"count"`
	Mode         string `json:"mode"`
	PreferUncore bool   `json:"prefer_uncore"`
	GroupSize    int    `json:"group_size"`
}

type answer struct {
	CPUs  *string `json:"cpus,omitempty"`
	Error string  `json:"error,omitempty"`
	Hang  bool    `json:"hang,omitempty"`
}

// newTopology builds the CPUTopology the kubelet's Discover would build for these CPUs: the
// counts come from the per-CPU details (cores, sockets, NUMA nodes and uncore caches nest as
// cAdvisor reports them, so the distinct ids are what Discover counts).
func newTopology(r request) (*topology.CPUTopology, error) {
	n := len(r.CPUs)
	if len(r.Sockets) != n || len(r.NUMANodes) != n || len(r.Cores) != n || len(r.Uncores) != n {
		return nil, fmt.Errorf("topology arrays differ in length")
	}
	details := topology.CPUDetails{}
	for i, cpu := range r.CPUs {
		details[cpu] = topology.CPUInfo{
			SocketID:      r.Sockets[i],
			NUMANodeID:    r.NUMANodes[i],
			CoreID:        r.Cores[i],
			UncoreCacheID: r.Uncores[i],
		}
	}
	return &topology.CPUTopology{
		NumCPUs:        n,
		NumCores:       details.Cores().Size(),
		NumSockets:     details.Sockets().Size(),
		NumNUMANodes:   details.NUMANodes().Size(),
		NumUncoreCache: details.UncoreCaches().Size(),
		CPUDetails:     details,
	}, nil
}

func solve(r request) answer {
	topo, err := newTopology(r)
	if err != nil {
		return answer{Error: err.Error()}
	}
	free, err := cpuset.Parse(r.Free)
	if err != nil {
		return answer{Error: err.Error()}
	}
	var picked cpuset.CPUSet
	switch r.Mode {
	case "packed":
		picked, err = cpumanager.DrafastTakePacked(topo, free, r.Count, r.PreferUncore)
	case "distributed":
		picked, err = cpumanager.DrafastTakeDistributed(topo, free, r.Count, r.GroupSize)
	default:
		err = fmt.Errorf("unknown mode %q", r.Mode)
	}
	if err != nil {
		return answer{Error: err.Error()}
	}
	text := picked.String()
	return answer{CPUs: &text}
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var r request
		if err := json.Unmarshal(in.Bytes(), &r); err != nil {
			fmt.Fprintln(os.Stderr, "bad request:", err)
			os.Exit(2)
		}
		done := make(chan answer, 1)
		go func() { done <- solve(r) }()
		var a answer
		select {
		case a = <-done:
		case <-time.After(hangAfter):
			a = answer{Hang: true}
		}
		if err := out.Encode(a); err != nil {
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "reading stdin:", err)
		os.Exit(2)
	}
}
