// Command dlogbench measures the Go client against a real dlogd: deliver + ack
// throughput of the high-level Reader (one reader catching up on a log of
// 100 B records) and append throughput of the Appender (one record per call,
// packed by the linger; one record per entry, pipelined; 1000 records per entry).
//
//	DLOG_DLOGD=bin/dlogd.js go run ./cmd/dlogbench            # starts its own dlogd (temp data dir)
//	go run ./cmd/dlogbench -addr 127.0.0.1:7070 -json         # against a running one
//
// Figures are records per second; the machine is shared, so compare only
// figures of one run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	dlog "github.com/dlog-project/dlog/clients/go"
	"github.com/dlog-project/dlog/clients/go/dlogtest"
)

type result struct {
	Name       string  `json:"name"`
	Records    int     `json:"records"`
	Seconds    float64 `json:"seconds"`
	RecordsSec float64 `json:"records_per_sec"`
}

func main() {
	addr := flag.String("addr", "", "dlogd address; empty: start one ($DLOG_DLOGD or dlogd on the PATH) on a temp data dir")
	records := flag.Int("records", 1_000_000, "records in the log the reader catches up on")
	size := flag.Int("size", 100, "payload bytes per record")
	singles := flag.Int("singles", 200_000, "one-record appends through the lingering Appender")
	unpacked := flag.Int("unpacked", 20_000, "one-record appends with no linger, 256 in flight")
	quick := flag.Bool("quick", false, "a short run: 100 k records, 50 k singles, 5 k unpacked")
	noFsync := flag.Bool("no-fsync", false, "start dlogd with --no-fsync")
	asJSON := flag.Bool("json", false, "print the results as one JSON object")
	logName := flag.String("log", "", "the catch-up log; filled only when it holds fewer than -records (default: a new log)")
	readerID := flag.String("reader", "bench", "reader id of the catch-up reader (a new id reads from the start)")
	onlyDeliver := flag.Bool("deliver-only", false, "measure only deliver + ack")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the deliver + ack run to this file")
	flag.Parse()
	if *quick {
		*records, *singles, *unpacked = 100_000, 50_000, 5_000
	}

	if *addr == "" {
		var args []string
		if *noFsync {
			args = append(args, "--no-fsync")
		}
		srv, err := dlogtest.Launch(dlogtest.WithDataDir(), dlogtest.WithArgs(args...))
		if err != nil {
			log.Fatal(err)
		}
		defer srv.Close()
		*addr = srv.Addr
	}
	client, err := dlog.New(*addr)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	run := fmt.Sprintf("%08x", rand.Uint32())
	payload := []byte(strings.Repeat("x", *size))

	var results []result
	report := func(r result) {
		results = append(results, r)
		if !*asJSON {
			fmt.Printf("%-58s %9.0f rec/s  (%d records in %.2f s)\n", r.Name, r.RecordsSec, r.Records, r.Seconds)
		}
	}
	caught := *logName
	if caught == "" {
		caught = "bench-go-catchup-" + run
	}
	if info, err := client.GetLog(ctx, caught); err != nil || info.RecordCount < int64(*records) {
		report(fill(ctx, client, caught, *records, payload))
	}
	if !*onlyDeliver {
		report(appendSingles(ctx, client, "bench-go-singles-"+run, *singles, payload, dlog.WithMaxInFlight(1024)))
		report(appendSingles(ctx, client, "bench-go-unpacked-"+run, *unpacked, payload, dlog.WithLinger(0), dlog.WithMaxInFlight(256)))
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
	}
	report(deliverAck(ctx, client, caught, *readerID, *records))
	pprof.StopCPUProfile()

	if *asJSON {
		out := map[string]any{"client": "go", "size_bytes": *size, "results": results}
		if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
			log.Fatal(err)
		}
	}
}

func since(name string, n int, start time.Time) result {
	s := time.Since(start).Seconds()
	return result{Name: name, Records: n, Seconds: s, RecordsSec: float64(n) / s}
}

// fill writes n records as entries of 1000 (AppendEntry), four entries in flight.
func fill(ctx context.Context, client *dlog.Client, logName string, n int, payload []byte) result {
	a := client.NewAppender(logName)
	defer a.Close(ctx)
	const perEntry, workers = 1000, 4
	entries := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for count := range entries {
				inputs := make([]dlog.Input, count)
				for i := range inputs {
					inputs[i] = dlog.Input{Payload: payload}
				}
				if _, err := a.AppendEntry(ctx, inputs...); err != nil {
					log.Fatalf("fill: %v", err)
				}
			}
		}()
	}
	for left := n; left > 0; left -= perEntry {
		entries <- min(left, perEntry)
	}
	close(entries)
	wg.Wait()
	return since("append, 1000 records per entry (AppendEntry, 4 in flight)", n, start)
}

// appendSingles appends n records one per call from one goroutine, waiting for the answers at the end.
func appendSingles(ctx context.Context, client *dlog.Client, logName string, n int, payload []byte, opts ...dlog.AppenderOption) result {
	a := client.NewAppender(logName, opts...)
	name := "append, 1 record per call, Appender linger 2 ms"
	if len(opts) > 1 {
		name = "append, 1 record per call, no linger, 256 in flight"
	}
	start := time.Now()
	pending := make([]dlog.Pending, n)
	for i := range pending {
		p, err := a.AppendAsync(ctx, dlog.Input{Payload: payload})
		if err != nil {
			log.Fatalf("append: %v", err)
		}
		pending[i] = p
	}
	for _, p := range pending {
		if _, err := p.Wait(ctx); err != nil {
			log.Fatalf("append: %v", err)
		}
	}
	r := since(name, n, start)
	if err := a.Close(ctx); err != nil {
		log.Fatal(err)
	}
	return r
}

// deliverAck reads n records with the high-level Reader, acking each, then drains.
func deliverAck(ctx context.Context, client *dlog.Client, logName, readerID string, n int) result {
	start := time.Now()
	r, err := client.OpenReader(ctx, dlog.ReaderConfig{Log: logName, ReaderID: readerID, Fallback: dlog.Earliest})
	if err != nil {
		log.Fatal(err)
	}
	for i := 0; i < n; i++ {
		rec, err := r.Next(ctx)
		if err != nil {
			log.Fatalf("deliver: %v", err)
		}
		r.Ack(rec)
	}
	if _, err := r.Close(ctx); err != nil {
		log.Fatal(err)
	}
	return since("deliver + ack, 1 reader, catch-up (Reader.Next + Ack each)", n, start)
}
