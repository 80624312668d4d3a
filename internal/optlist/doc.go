// Package optlist splits the comma-separated device options of gonest
// run's flags (-disk PATH,ro; -fs DIR,tag=T; -port NAME,out=PATH), where
// a comma inside a path or value is written twice.
package optlist
