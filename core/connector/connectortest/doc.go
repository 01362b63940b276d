// Package connectortest holds what every connector's tests share: the runner of a
// connector's rule truth table (RuleCases), a replay server for recorded and documented
// upstream responses, and the conformance suite every connector passes (Run with a Harness),
// the way evidence/store/storetest is for stores. See connectors/README.md.
//
// It imports the controls engine but no connector and no platform SDK, so each connector's
// tests can use it without compiling the others.
package connectortest
