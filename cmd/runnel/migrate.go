package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/runnel-dev/runnel/internal/config"
	"github.com/runnel-dev/runnel/internal/store/storeopen"
)

func newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the metadata store's schema migrations",
		Long: `Apply every schema migration the metadata store lacks. Servers apply
them on start too; run this to upgrade a PostgreSQL database ahead of a
rollout.`,
		Example: `  runnel migrate --database-url postgres://postgres@127.0.0.1:5432/runnel`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
				return fmt.Errorf("creating data dir: %w", err)
			}
			v, err := storeopen.Migrate(cmd.Context(), cfg.DatabaseURL)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "schema at version %d\n", v)
			return err
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}
