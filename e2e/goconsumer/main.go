// Command goconsumer is the Go SDK consumer of bg-agent's credential_process
// for the e2e tests: it loads a profile the normal way (so the SDK's
// processcreds provider runs `bg-agent process`) and prints the
// GetCallerIdentity result as JSON.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: goconsumer PROFILE")
		os.Exit(2)
	}
	ctx := context.Background()
	var opts []func(*config.LoadOptions) error
	if os.Args[1] != "" { // "": the default chain (env, container endpoint, …)
		opts = append(opts, config.WithSharedConfigProfile(os.Args[1]))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goconsumer:", err)
		os.Exit(1)
	}
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "goconsumer:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(map[string]string{"Arn": *out.Arn, "Account": *out.Account})
}
