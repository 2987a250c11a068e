// Package scenario holds the verdict rules of wsgilab's scenarios: pure functions from what a
// cell's observers recorded (a timeline of samples and matched log lines, and the phase
// boundaries the runner marked) to a verdict that names its evidence. Keeping them pure makes
// them testable on recorded timelines (testdata/) without the stack.
package scenario
