// Command cgofloor is the smallest program linked like bg-agent (cgo, with
// libpcsclite): the time to exec it is the floor under any `bg-agent
// process` on the machine at hand. BenchmarkProcessWarmAgent reports it
// beside bg-agent's own figure, since a VM's exec cost moves by tens of
// percent from one hour to the next.
package main

/*
#cgo LDFLAGS: -lpcsclite
#include <stdlib.h>
*/
import "C"

import "os"

func main() { os.Stdout.WriteString("{}\n") }
