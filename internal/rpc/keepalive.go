package rpc

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Workers ping the controller and each other every KeepaliveTime, so that
// a machine that vanished without closing its connections (a killed
// process resets them at once) is noticed within KeepaliveTime plus
// KeepaliveTimeout.
const (
	KeepaliveTime    = 10 * time.Second
	KeepaliveTimeout = 5 * time.Second
)

// KeepaliveDial makes a client ping as described above.
func KeepaliveDial() grpc.DialOption {
	return grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: KeepaliveTime, Timeout: KeepaliveTimeout, PermitWithoutStream: true})
}

// KeepalivePolicy lets clients ping that often; every server workers dial
// needs it, or it closes their connections for pinging too much.
func KeepalivePolicy() grpc.ServerOption {
	return grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: KeepaliveTime / 2, PermitWithoutStream: true})
}
