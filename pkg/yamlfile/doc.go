// Package yamlfile is how specguard reads the YAML files it is given (a
// policy, a Pod manifest). It holds the shape of every error about such a
// file: each problem with its field path and line, all of them at once,
// printed file:line: path: reason.
package yamlfile
