// Package config loads influxgate's configuration from three dialects into
// one model (Config): native influxgate TOML, influxdb-relay TOML (a subset of
// the native format, loaded unchanged with the same meaning) and Inmate's
// config.yaml.
//
// Loading follows one order for every dialect: defaults (Default), strict
// decode (an unknown key is an error naming the key and its line), per-element
// defaults (ApplyDefaults), environment overrides, then Validate, which
// collects every problem with its key path instead of stopping at the first.
//
// Decoding uses github.com/pelletier/go-toml/v2 and gopkg.in/yaml.v3. Two
// small things are written by hand because the libraries do not offer them:
//   - a key-position index (positions.go) built with go-toml's unstable
//     parser. go-toml reports positions only for the errors it raises itself;
//     the index lets every later problem (a bad duration, a validation error)
//     name its file:line too, and tells which keys a file used, which decides
//     whether a TOML file is in influxdb-relay or native format.
//   - a line→key index over yaml.v3's node tree, because yaml.v3's errors
//     carry a line but not the key path.
//
// The per-key reference, defaults and the influxdb-relay and Inmate
// compatibility notes are in docs/configuration.md.
package config
