// Command kubeletvolume writes a pod's Secret, ConfigMap and projected volumes into a directory the way
// the kubelet of Kubernetes v1.34.4 sets them up: the API server's defaults for the pod
// (k8s.io/kubernetes/pkg/apis/core/v1), the volume plugins' payloads (pkg/volume/secret and
// pkg/volume/configmap MakePayload; a projected volume's sources merged in order, as
// pkg/volume/projected collects them), the kubelet's AtomicWriter (pkg/volume/util) and its fsGroup
// ownership and mode change (pkg/volume NewVolumeOwnership) on a read-only volume.
//
// Input on stdin: {"pod": <Pod>, "secrets": [<Secret>...], "configMaps": [<ConfigMap>...]}. Each
// volume of the pod of those kinds is written to <dir>/<volume name>, a directory created with the mode
// the kubelet's emptyDir gives the volume's root (0777). Must run as root (the files are root's, their
// group the pod's fsGroup). Exit 0 on success, 1 on a failure of the kubelet code, 2 on bad input.
//
//	kubeletvolume -dir DIR < input.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	v1 "k8s.io/api/core/v1"
	corev1defaults "k8s.io/kubernetes/pkg/apis/core/v1"
	"k8s.io/kubernetes/pkg/volume"
	"k8s.io/kubernetes/pkg/volume/configmap"
	"k8s.io/kubernetes/pkg/volume/secret"
	volumeutil "k8s.io/kubernetes/pkg/volume/util"
)

type input struct {
	Pod        v1.Pod         `json:"pod"`
	Secrets    []v1.Secret    `json:"secrets"`
	ConfigMaps []v1.ConfigMap `json:"configMaps"`
}

// readOnlyVolume is what NewVolumeOwnership asks of a mounter: its path and that Secret, ConfigMap and
// projected volumes are read-only (their plugins' GetAttributes).
type readOnlyVolume struct{ path string }

func (v readOnlyVolume) GetPath() string                          { return v.path }
func (v readOnlyVolume) GetMetrics() (*volume.Metrics, error)     { return &volume.Metrics{}, nil }
func (v readOnlyVolume) SetUp(volume.MounterArgs) error           { return nil }
func (v readOnlyVolume) SetUpAt(string, volume.MounterArgs) error { return nil }
func (v readOnlyVolume) GetAttributes() volume.Attributes {
	return volume.Attributes{ReadOnly: true, Managed: true, SELinuxRelabel: true}
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "kubeletvolume: "+format+"\n", args...)
	os.Exit(code)
}

func main() {
	dir := flag.String("dir", "", "where to write one directory per volume")
	flag.Parse()
	if *dir == "" {
		fail(2, "-dir is required")
	}
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		fail(2, "stdin is not {pod, secrets, configMaps}: %v", err)
	}
	corev1defaults.SetObjectDefaults_Pod(&in.Pod)
	secrets := map[string]*v1.Secret{}
	for i := range in.Secrets {
		secrets[in.Secrets[i].Name] = &in.Secrets[i]
	}
	configMaps := map[string]*v1.ConfigMap{}
	for i := range in.ConfigMaps {
		configMaps[in.ConfigMaps[i].Name] = &in.ConfigMaps[i]
	}
	fsGroup := (*int64)(nil)
	if sc := in.Pod.Spec.SecurityContext; sc != nil {
		fsGroup = sc.FSGroup
	}
	for _, vol := range in.Pod.Spec.Volumes {
		payload, err := collect(vol.VolumeSource, secrets, configMaps)
		if err != nil {
			fail(1, "volume %s: %v", vol.Name, err)
		}
		if payload == nil {
			continue
		}
		target := filepath.Join(*dir, vol.Name)
		if err := os.MkdirAll(target, 0o777); err != nil {
			fail(1, "volume %s: %v", vol.Name, err)
		}
		if err := os.Chmod(target, 0o777); err != nil {
			fail(1, "volume %s: %v", vol.Name, err)
		}
		writer, err := volumeutil.NewAtomicWriter(target, "volume "+vol.Name)
		if err != nil {
			fail(1, "volume %s: %v", vol.Name, err)
		}
		setPerms := func(string) error {
			return volume.NewVolumeOwnership(readOnlyVolume{target}, target, fsGroup, nil, nil).ChangePermissions()
		}
		if err := writer.Write(payload, setPerms); err != nil {
			fail(1, "volume %s: %v", vol.Name, err)
		}
	}
}

func optional(flag *bool) bool { return flag != nil && *flag }

// collect is the payload of a Secret, ConfigMap or projected volume (nil for other kinds).
func collect(src v1.VolumeSource, secrets map[string]*v1.Secret, configMaps map[string]*v1.ConfigMap) (map[string]volumeutil.FileProjection, error) {
	switch {
	case src.Secret != nil:
		s, ok := secrets[src.Secret.SecretName]
		if !ok {
			return nil, fmt.Errorf("no Secret %s", src.Secret.SecretName)
		}
		return secret.MakePayload(src.Secret.Items, s, src.Secret.DefaultMode, optional(src.Secret.Optional))
	case src.ConfigMap != nil:
		c, ok := configMaps[src.ConfigMap.Name]
		if !ok {
			return nil, fmt.Errorf("no ConfigMap %s", src.ConfigMap.Name)
		}
		return configmap.MakePayload(src.ConfigMap.Items, c, src.ConfigMap.DefaultMode, optional(src.ConfigMap.Optional))
	case src.Projected != nil:
		payload := map[string]volumeutil.FileProjection{}
		for _, source := range src.Projected.Sources {
			var part map[string]volumeutil.FileProjection
			var err error
			switch {
			case source.Secret != nil:
				s, ok := secrets[source.Secret.Name]
				if !ok {
					return nil, fmt.Errorf("no Secret %s", source.Secret.Name)
				}
				part, err = secret.MakePayload(source.Secret.Items, s, src.Projected.DefaultMode, optional(source.Secret.Optional))
			case source.ConfigMap != nil:
				c, ok := configMaps[source.ConfigMap.Name]
				if !ok {
					return nil, fmt.Errorf("no ConfigMap %s", source.ConfigMap.Name)
				}
				part, err = configmap.MakePayload(source.ConfigMap.Items, c, src.Projected.DefaultMode, optional(source.ConfigMap.Optional))
			default:
				return nil, fmt.Errorf("projected source %+v: only Secrets and ConfigMaps here", source)
			}
			if err != nil {
				return nil, err
			}
			for path, file := range part {
				payload[path] = file
			}
		}
		return payload, nil
	}
	return nil, nil
}
