// Command snapshot-metadata-client is a backup application's side of the
// Kubernetes SnapshotMetadata API (cbt.storage.k8s.io), run as a pod by
// `scripts/kubernetes test changed_blocks`. It finds the driver's
// SnapshotMetadataService, gets a token for its own ServiceAccount with the
// service's audience, and streams the blocks through the
// external-snapshot-metadata sidecar, with the upstream client library
// (pkg/iterator) that backup tools use.
//
//	snapshot-metadata-client -namespace NS -snapshot NAME [-base NAME]
//
// Prints one JSON array of records (the allocated blocks of -snapshot, or
// with -base the blocks changed since it), then "extents N bytes B" on a line
// of its own: the number of extents and their total size.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kubernetes-csi/external-snapshot-metadata/pkg/iterator"
	"k8s.io/client-go/rest"
)

// counter keeps the totals of the records it passes on.
type counter struct {
	next    iterator.IteratorEmitter
	extents int
	bytes   int64
}

func (c *counter) SnapshotMetadataIteratorRecord(n int, m iterator.IteratorMetadata) error {
	for _, b := range m.BlockMetadata {
		c.extents++
		c.bytes += b.SizeBytes
	}
	return c.next.SnapshotMetadataIteratorRecord(n, m)
}

func (c *counter) SnapshotMetadataIteratorDone(n int) error {
	return c.next.SnapshotMetadataIteratorDone(n)
}

func main() {
	namespace := flag.String("namespace", "", "namespace of the VolumeSnapshots")
	snapshot := flag.String("snapshot", "", "the VolumeSnapshot whose blocks are listed")
	base := flag.String("base", "", "an earlier VolumeSnapshot of the same volume: list only the blocks changed since")
	timeout := flag.Duration("timeout", 2*time.Minute, "give up after this long")
	flag.Parse()
	if *namespace == "" || *snapshot == "" {
		fmt.Fprintln(os.Stderr, "snapshot-metadata-client: give -namespace and -snapshot")
		os.Exit(2)
	}
	config, err := rest.InClusterConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "snapshot-metadata-client: run it in a pod: %v\n", err)
		os.Exit(1)
	}
	clients, err := iterator.BuildClients(config)
	if err != nil {
		fmt.Fprintf(os.Stderr, "snapshot-metadata-client: %v\n", err)
		os.Exit(1)
	}
	var out bytes.Buffer
	c := &counter{next: &iterator.JSONEmitter{Writer: &out}}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	err = iterator.GetSnapshotMetadata(ctx, iterator.Args{
		Clients:          clients,
		Emitter:          c,
		Namespace:        *namespace,
		SnapshotName:     *snapshot,
		PrevSnapshotName: *base,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "snapshot-metadata-client: %v\n", err)
		os.Exit(1)
	}
	if !json.Valid(out.Bytes()) {
		fmt.Fprintln(os.Stderr, "snapshot-metadata-client: the records are not valid JSON")
		os.Exit(1)
	}
	fmt.Println(out.String())
	fmt.Printf("extents %d bytes %d\n", c.extents, c.bytes)
}
