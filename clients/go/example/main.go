// A Go service calling the authsidecar: one connection, a deadline on every call, "valid: false" is no.
//
//	go run ./example 127.0.0.1:50051 <token>
//
// Prints one JSON line: the upstream health and the token's verdict.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	authsidecarv1 "github.com/authsidecar/authsidecar/gen/go/authsidecar/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// codecV2 marshals with google.golang.org/protobuf. Needed only with Debian bookworm's grpc-go 1.33,
// whose default codec is github.com/golang/protobuf 1.3 (APIv1) and cannot read protoc-gen-go 1.28's
// messages; grpc-go >= 1.36 with golang/protobuf >= 1.4 does this itself: drop it there.
type codecV2 struct{}

func (codecV2) Marshal(v interface{}) ([]byte, error) { return proto.Marshal(v.(proto.Message)) }
func (codecV2) Unmarshal(data []byte, v interface{}) error {
	return proto.Unmarshal(data, v.(proto.Message))
}
func (codecV2) Name() string { return "proto" }

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: example TARGET TOKEN")
		os.Exit(2)
	}
	// grpc.Dial: the oldest grpc-go this builds with (Debian's 1.33) has no grpc.NewClient yet.
	conn, err := grpc.Dial(os.Args[1], grpc.WithInsecure(), grpc.WithDefaultCallOptions(grpc.ForceCodec(codecV2{})))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	auth := authsidecarv1.NewAuthServiceClient(conn)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	health, err := auth.CheckUpstreamHealth(ctx, &authsidecarv1.CheckUpstreamHealthRequest{})
	if err != nil {
		fail(err)
	}
	answer, err := auth.VerifyToken(ctx, &authsidecarv1.VerifyTokenRequest{Token: os.Args[2]})
	if err != nil {
		fail(err)
	}
	out := map[string]interface{}{
		"upstreams": len(health.GetUpstreams()),
		"valid":     answer.GetValid(),
		"reason":    answer.GetReason().String(),
		"subject":   answer.GetAuth().GetSubject(),
	}
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
