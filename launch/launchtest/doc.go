// Package launchtest helps test code that starts VMs through package
// launch, without a VMM: Script is a launch.VMM played by a shell script,
// which prints the guest's console, sends messages the way gonest passes
// them on (a line each on $MSG) and exits with the status a VMM would.
package launchtest
