"""pcl recipe."""
