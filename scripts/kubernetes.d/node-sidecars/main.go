// Command node-sidecars stands in for two kubernetes-csi node sidecars whose
// modules the Go module proxy reachable here does not serve:
// csi-node-driver-registrar and livenessprobe. It takes their command-line
// flags, so deploy/kubernetes runs unchanged; which one it is comes from the
// name it is started under (argv[0]).
//
//   csi-node-driver-registrar: asks the driver its name (GetPluginInfo), serves
//     the kubelet plugin registration API on
//     /registration/<driver>-reg.sock, and /healthz on --http-endpoint.
//   livenessprobe: /healthz on --health-port answers the driver's CSI Probe.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

func dial(address string) (*grpc.ClientConn, error) {
	target := address
	if !strings.HasPrefix(target, "unix://") {
		target = "unix://" + target
	}
	return grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// driverName asks the CSI driver for its name, retrying until it answers.
func driverName(conn *grpc.ClientConn, timeout time.Duration) string {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		info, err := csi.NewIdentityClient(conn).GetPluginInfo(ctx, &csi.GetPluginInfoRequest{})
		cancel()
		if err == nil && info.GetName() != "" {
			return info.GetName()
		}
		log.Printf("waiting for the CSI driver to answer GetPluginInfo: %v", err)
		time.Sleep(2 * time.Second)
	}
}

type registrationServer struct {
	registerapi.UnimplementedRegistrationServer
	driver   string
	endpoint string
}

func (s *registrationServer) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              s.driver,
		Endpoint:          s.endpoint,
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (s *registrationServer) NotifyRegistrationStatus(_ context.Context, st *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !st.PluginRegistered {
		// As upstream does: exit, so that the container restarts and registers again.
		log.Fatalf("the kubelet refused to register %s: %s", s.driver, st.Error)
	}
	log.Printf("the kubelet registered %s (endpoint %s)", s.driver, s.endpoint)
	return &registerapi.RegistrationStatusResponse{}, nil
}

func registrar(args []string) error {
	fs := flag.NewFlagSet("csi-node-driver-registrar", flag.ExitOnError)
	csiAddress := fs.String("csi-address", "/run/csi/socket", "the CSI driver's socket inside this container")
	kubeletPath := fs.String("kubelet-registration-path", "", "the CSI driver's socket as the kubelet sees it (required)")
	registrationDir := fs.String("plugin-registration-path", "/registration", "the kubelet's plugins_registry directory inside this container")
	httpEndpoint := fs.String("http-endpoint", "", "host:port of the /healthz endpoint (empty: none)")
	timeout := fs.Duration("timeout", 15*time.Second, "timeout of each CSI call")
	fs.Int("v", 0, "log verbosity (accepted for compatibility)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeletPath == "" {
		return errors.New("--kubelet-registration-path is required: the driver's socket path on the node, for example /var/lib/kubelet/plugins/<driver>/csi.sock")
	}
	conn, err := dial(*csiAddress)
	if err != nil {
		return fmt.Errorf("cannot connect to the CSI driver at %s: %w", *csiAddress, err)
	}
	driver := driverName(conn, *timeout)
	conn.Close()

	socket := filepath.Join(*registrationDir, driver+"-reg.sock")
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot remove the stale registration socket %s: %w", socket, err)
	}
	lis, err := net.Listen("unix", socket)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (is %s the kubelet's plugins_registry, mounted read-write?): %w", socket, *registrationDir, err)
	}
	server := grpc.NewServer()
	registerapi.RegisterRegistrationServer(server, &registrationServer{driver: driver, endpoint: *kubeletPath})
	log.Printf("serving the registration of %s on %s", driver, socket)

	if *httpEndpoint != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
			if _, err := os.Stat(socket); err != nil {
				http.Error(w, fmt.Sprintf("registration socket %s is gone: %v", socket, err), http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, "ok")
		})
		go func() { log.Fatal(http.ListenAndServe(*httpEndpoint, mux)) }()
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		server.Stop()
		os.Remove(socket)
		os.Exit(0)
	}()
	return server.Serve(lis)
}

func livenessprobe(args []string) error {
	fs := flag.NewFlagSet("livenessprobe", flag.ExitOnError)
	csiAddress := fs.String("csi-address", "/run/csi/socket", "the CSI driver's socket inside this container")
	healthPort := fs.String("health-port", "9808", "TCP port of /healthz")
	probeTimeout := fs.Duration("probe-timeout", time.Second, "timeout of each CSI Probe")
	fs.Int("v", 0, "log verbosity (accepted for compatibility)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, err := dial(*csiAddress)
	if err != nil {
		return fmt.Errorf("cannot connect to the CSI driver at %s: %w", *csiAddress, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), *probeTimeout)
		defer cancel()
		res, err := csi.NewIdentityClient(conn).Probe(ctx, &csi.ProbeRequest{})
		if err != nil {
			http.Error(w, fmt.Sprintf("CSI Probe failed: %v", err), http.StatusInternalServerError)
			return
		}
		if res.GetReady() != nil && !res.GetReady().GetValue() {
			http.Error(w, "the CSI driver says it is not ready", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	log.Printf("serving /healthz on :%s (CSI Probe of %s)", *healthPort, *csiAddress)
	return http.ListenAndServe(":"+*healthPort, mux)
}

func main() {
	var err error
	switch name := filepath.Base(os.Args[0]); name {
	case "csi-node-driver-registrar":
		err = registrar(os.Args[1:])
	case "livenessprobe":
		err = livenessprobe(os.Args[1:])
	default:
		err = fmt.Errorf("started as %q: start this program as csi-node-driver-registrar or livenessprobe", name)
	}
	if err != nil {
		log.Fatal(err)
	}
}
