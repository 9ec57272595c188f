// Command rallybench measures rallyd on the Redis backend against baselines taken in the
// same run (issue 8): it starts its own redis-server and an in-process rallyd, runs the
// measurements, prints a table of ratios with their targets and writes them as JSON.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rallybench:", err)
		os.Exit(1)
	}
}
