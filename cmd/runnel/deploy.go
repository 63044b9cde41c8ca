package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/runnel-dev/runnel/deploy"
)

func newDeployCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Kubernetes manifests for running Runnel in a cluster",
	}
	var valuesFile string
	render := &cobra.Command{
		Use:   "render [-f values.yaml]",
		Short: "Print the Kubernetes manifests for the given values",
		Long: `Print the Kubernetes manifests (API, controller with a standby, RBAC for
the kubernetes scheduler, settings and the database Secret) rendered from
the built-in values with the keys of -f laid over them. Unknown keys and
invalid values are errors. See deploy/README.md.`,
		Example: `  runnel deploy render -f my-values.yaml > runnel.yaml
  kubectl apply -f runnel.yaml`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := deploy.DefaultValues()
			if valuesFile != "" {
				data, err := os.ReadFile(valuesFile)
				if err != nil {
					return usageError{fmt.Errorf("reading values: %w", err)}
				}
				if v, err = deploy.LoadValues(data); err != nil {
					return usageError{err}
				}
			}
			out, err := deploy.Render(v)
			if err != nil {
				return usageError{err}
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	render.Flags().StringVarP(&valuesFile, "values", "f", "", "YAML file of values to change (default: the built-in values)")
	cmd.AddCommand(render)
	return cmd
}
