// Package e2e holds the tests of the whole product as its users and adversaries meet it:
// organisers, participants and the admin over gRPC and REST, attackers, a hung or lost
// Redis, the log reader and whoever seizes the store. Each test starts its own rallyd, in
// this process (internal/app's Start, or internal/app/apptest), on free loopback ports, and
// its own stores: the memory store, a real redis-server, Sentinel or a Cluster.
//
// The harness that the tests share is harness_test.go; what only one file uses stays in
// that file. The package has no code of its own: everything here is a test.
package e2e
