// kubeletload is a kubelet stand-in for the prepare benchmarks: it calls a DRA plugin through the
// kubelet's own generated client (k8s.io/kubelet/pkg/apis/dra/v1) over grpc-go, connected the way
// the kubelet connects (unix: target, insecure credentials, one ClientConn shared by every call,
// a 45 s deadline per call). The benchmark then measures the plugin, not a Python gRPC client
// competing with it for the same two cores.
//
// Usage: kubeletload -socket /path/to/dra.sock
//
// Reads one JSON request per line on stdin and writes one JSON response per line on stdout:
//
//	{"op": "prepare"|"unprepare", "calls": [[{"namespace": "...", "name": "...", "uid": "..."}, ...], ...]}
//	{"seconds": 0.0123, "results": [{"<uid>": {"error": "", "devices": 1, "cdi_ids": ["..."]}}, ...],
//	 "call_error": ["", ...]}
//
// Each inner list of "calls" is one gRPC call; all calls of a request run concurrently. "seconds"
// runs from just before the first call is issued to the last response. Exits 0 on stdin EOF.
//
// With -serve-noop it is the other side instead: a DRA plugin on grpc-go that does nothing (the
// kubelet's generated server; every claim answered without error) on the socket given, until
// SIGTERM. benches/test_grpc_floor.py measures gRPC's own cost per call with it.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	drapb "k8s.io/kubelet/pkg/apis/dra/v1"
)

// callTimeout is the kubelet's defaultClientCallTimeout (pkg/kubelet/cm/dra/plugin).
const callTimeout = 45 * time.Second

type claim struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
}

type request struct {
	Op    string    `json:"op"`
	Calls [][]claim `json:"calls"`
}

type claimResult struct {
	Error   string   `json:"error"`
	Devices int      `json:"devices"`
	CDIIDs  []string `json:"cdi_ids"`
}

type response struct {
	Seconds   float64                  `json:"seconds"`
	Results   []map[string]claimResult `json:"results"`
	CallError []string                 `json:"call_error"`
}

func main() {
	socket := flag.String("socket", "", "the plugin's DRA socket")
	noop := flag.String("serve-noop", "", "serve a DRA plugin that does nothing on this socket")
	flag.Parse()
	if *noop != "" {
		serveNoop(*noop)
		return
	}
	if *socket == "" {
		fail(errors.New("-socket is required"))
	}

	// As the kubelet's DRA plugin manager does: one connection, created once.
	conn, err := grpc.NewClient("unix:"+*socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	// Connect now rather than on the first call, so no request's timing includes the dial.
	if err := waitReady(conn, 30*time.Second); err != nil {
		fail(err)
	}
	client := drapb.NewDRAPluginClient(conn)

	in := json.NewDecoder(bufio.NewReader(os.Stdin))
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for {
		var req request
		if err := in.Decode(&req); errors.Is(err, io.EOF) {
			return
		} else if err != nil {
			fail(fmt.Errorf("bad request: %w", err))
		}
		resp, err := run(client, req)
		if err != nil {
			fail(err)
		}
		if err := enc.Encode(resp); err != nil {
			fail(err)
		}
		if err := out.Flush(); err != nil {
			fail(err)
		}
	}
}

// noopPlugin answers every claim of every call without error and does nothing else.
type noopPlugin struct {
	drapb.UnimplementedDRAPluginServer
}

func (noopPlugin) NodePrepareResources(_ context.Context, req *drapb.NodePrepareResourcesRequest) (*drapb.NodePrepareResourcesResponse, error) {
	resp := &drapb.NodePrepareResourcesResponse{Claims: map[string]*drapb.NodePrepareResourceResponse{}}
	for _, c := range req.Claims {
		resp.Claims[c.Uid] = &drapb.NodePrepareResourceResponse{}
	}
	return resp, nil
}

func (noopPlugin) NodeUnprepareResources(_ context.Context, req *drapb.NodeUnprepareResourcesRequest) (*drapb.NodeUnprepareResourcesResponse, error) {
	resp := &drapb.NodeUnprepareResourcesResponse{Claims: map[string]*drapb.NodeUnprepareResourceResponse{}}
	for _, c := range req.Claims {
		resp.Claims[c.Uid] = &drapb.NodeUnprepareResourceResponse{}
	}
	return resp, nil
}

func serveNoop(socket string) {
	lis, err := net.Listen("unix", socket)
	if err != nil {
		fail(err)
	}
	srv := grpc.NewServer()
	drapb.RegisterDRAPluginServer(srv, noopPlugin{})
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-stop
		srv.GracefulStop() // closes the listener, which removes the socket file
	}()
	if err := srv.Serve(lis); err != nil {
		fail(err)
	}
}

func waitReady(conn *grpc.ClientConn, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	conn.Connect()
	for state := conn.GetState(); state != connectivity.Ready; state = conn.GetState() {
		if !conn.WaitForStateChange(ctx, state) {
			return fmt.Errorf("no connection to %s within %s (last state %s)", conn.Target(), within, state)
		}
	}
	return nil
}

// run issues every call of req at once, each from its own goroutine as concurrent pod
// start-ups do in the kubelet, and waits for all of them.
func run(client drapb.DRAPluginClient, req request) (*response, error) {
	var call func(ctx context.Context, claims []*drapb.Claim) (map[string]claimResult, error)
	switch req.Op {
	case "prepare":
		call = func(ctx context.Context, claims []*drapb.Claim) (map[string]claimResult, error) {
			r, err := client.NodePrepareResources(ctx, &drapb.NodePrepareResourcesRequest{Claims: claims})
			if err != nil {
				return nil, err
			}
			out := make(map[string]claimResult, len(r.Claims))
			for uid, c := range r.Claims {
				ids := []string{}
				for _, d := range c.GetDevices() {
					ids = append(ids, d.GetCdiDeviceIds()...)
				}
				out[uid] = claimResult{Error: c.GetError(), Devices: len(c.GetDevices()), CDIIDs: ids}
			}
			return out, nil
		}
	case "unprepare":
		call = func(ctx context.Context, claims []*drapb.Claim) (map[string]claimResult, error) {
			r, err := client.NodeUnprepareResources(ctx, &drapb.NodeUnprepareResourcesRequest{Claims: claims})
			if err != nil {
				return nil, err
			}
			out := make(map[string]claimResult, len(r.Claims))
			for uid, c := range r.Claims {
				out[uid] = claimResult{Error: c.GetError(), CDIIDs: []string{}}
			}
			return out, nil
		}
	default:
		return nil, fmt.Errorf("unknown op %q (want prepare or unprepare)", req.Op)
	}

	// The kubelet builds its requests before calling; so do we, outside the timed span.
	batches := make([][]*drapb.Claim, len(req.Calls))
	for i, claims := range req.Calls {
		for _, c := range claims {
			batches[i] = append(batches[i], &drapb.Claim{Namespace: c.Namespace, Name: c.Name, Uid: c.UID})
		}
	}
	resp := &response{
		Results:   make([]map[string]claimResult, len(batches)),
		CallError: make([]string, len(batches)),
	}
	ends := make([]time.Time, len(batches))
	var wg sync.WaitGroup
	start := time.Now()
	for i, claims := range batches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			res, err := call(ctx, claims)
			ends[i] = time.Now()
			if err != nil {
				resp.CallError[i] = err.Error()
				res = map[string]claimResult{}
			}
			resp.Results[i] = res
		}()
	}
	wg.Wait()
	last := start
	for _, t := range ends {
		if t.After(last) {
			last = t
		}
	}
	resp.Seconds = last.Sub(start).Seconds()
	return resp, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kubeletload:", err)
	os.Exit(1)
}
