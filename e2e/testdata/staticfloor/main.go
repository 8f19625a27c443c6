// Command staticfloor does nothing. Built with CGO_ENABLED=0 it is the
// cheapest Go process the machine can exec: BenchmarkWarmVsAwsVault reports
// it beside a warm `bg-agent process`, whose front door is meant to cost at
// most twice this.
package main

func main() {}
