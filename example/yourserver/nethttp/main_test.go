package main

import (
	"testing"

	"github.com/hongbao-go/hongbao/example/yourserver/internal/servertest"
)

func TestYourServer(t *testing.T) { servertest.Serves(t, newServer) }

func TestYourServerRefusesWrongKey(t *testing.T) { servertest.RefusesWrongKey(t, newServer) }

// The README shows this file whole: it must be this file.
func TestREADMEShowsThisFile(t *testing.T) { servertest.READMEShows(t, "main.go") }
