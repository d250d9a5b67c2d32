// vcsim for the tests: govmomi's vSphere API simulator (Debian's
// golang-github-vmware-govmomi-dev), listening on 127.0.0.1 with the certificate and the one
// login it is given. It prints its URL on stdout, then serves until SIGTERM.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	esx := flag.Bool("esx", false, "a standalone ESXi host instead of a vCenter")
	cert := flag.String("cert", "", "server certificate (PEM)")
	key := flag.String("key", "", "its private key (PEM)")
	user := flag.String("user", "user", "the only user name accepted")
	password := flag.String("password", "pass", "its password")
	flag.Parse()

	model := simulator.VPX()
	if *esx {
		model = simulator.ESX()
	}
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		log.Fatal(err)
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	model.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: url.UserPassword(*user, *password)}
	server := model.Service.NewServer()
	fmt.Printf("https://%s/sdk\n", server.URL.Host)
	os.Stdout.Sync()

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	server.Close()
	model.Remove()
}
