// Package wal is influxgate's durable write log.
package wal
