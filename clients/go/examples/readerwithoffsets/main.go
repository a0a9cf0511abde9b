// Command readerwithoffsets is DistributedLog's "At-least-once Processing"
// tutorial (ReaderWithOffsets) on the dlog Go client. Every step the tutorial
// did by hand is now the server's job; the comments say which step went where.
//
//	go run ./examples/readerwithoffsets [-addr 127.0.0.1:7070] [-log messages] [-reader reader-with-offsets]
//
// Append something from another terminal (`dlog append --log messages hello`),
// stop this program with Ctrl-C, start it again: it goes on after the last
// record it processed — nothing skipped, nothing read twice.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	dlog "github.com/dlog-project/dlog/clients/go"
)

func main() {
	addr := flag.String("addr", envOr("DLOG_ADDR", "127.0.0.1:7070"), "dlogd address")
	logName := flag.String("log", "messages", "log to read")
	readerID := flag.String("reader", "reader-with-offsets", "reader id (the tutorial's readerId)")
	flag.Parse()

	var opts []dlog.Option
	if token := os.Getenv("DLOG_TOKEN"); token != "" {
		opts = append(opts, dlog.WithBearerToken(token))
	}
	client, err := dlog.New(*addr, opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	// Ctrl-C / SIGTERM end the loop; the reader is then closed with a drain.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Tutorial step 1, "Open the offset store": factory.open(new File(offsetStoreFile), options).
	// Gone: reader positions live in dlogd's own LevelDB, next to the log, one key per (log, reader).

	// Step 2, "Read the reader read position": offsetDB.get(readerId), InitialDLSN when absent.
	// Gone: opening a session makes the server look up the stored position; Fallback is
	// the tutorial's `dlsn = DLSN.InitialDLSN` for a reader seen for the first time.
	//
	// Step 3, "Read records": dlm.openAsyncLogReader(dlsn). The session starts strictly
	// *after* the stored position (the tutorial re-read its last stored record), and skips
	// records acked out of order before a restart (holes), which the tutorial could not track.
	reader, err := client.OpenReader(ctx, dlog.ReaderConfig{
		Log:      *logName,
		ReaderID: *readerID,
		Fallback: dlog.Earliest,
		OnOpened: func(o dlog.Opened) {
			log.Printf("reading %s as %s: resuming after %v (%s position, %d reconnects)", *logName, *readerID, o.ResumeAfter, o.Source, o.Reconnects)
		},
		// Step 5, "Record read position": a timer writing lastDLSN to LevelDB every 10 s,
		// losing up to 10 s of progress on a crash and everything since the last tick on
		// shutdown. Now the server batches acked positions into one fsynced LevelDB write
		// every 100 ms (or 1000 acks), and tells us each time what is durable:
		OnStatus: func(s dlog.Status) {
			log.Printf("durable position: %v (lag %d)", s.DurableFloor, s.Lag)
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	for {
		// The tutorial's reader.readNext() callback chain, as a loop.
		record, err := reader.Next(ctx)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				log.Print(err) // e.g. dlog.ErrReaderFenced: another process took this reader over
			}
			break
		}
		// "process the record"
		again := ""
		if record.Redelivered {
			again = " (again)"
		}
		fmt.Printf("Read record %v : %s%s\n", record.DLSN, record.Payload, again)
		// Step 4, "Track read position": lastReadDLSN.set(record.getDlsn()). An ack is that,
		// kept by the server: acks are coalesced into few messages, and acks out of order
		// are kept as holes above the floor instead of being lost.
		reader.Ack(record)
	}

	// Shutdown: the tutorial simply stopped, dropping whatever the timer had not written.
	// Close sends the last acks, drains the session and returns the final durable position.
	closing, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	final, err := reader.Close(closing)
	if err != nil && !errors.Is(err, dlog.ErrReaderFenced) {
		log.Printf("close: %v", err)
	}
	log.Printf("stopped; the next run starts after %v", final)
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
