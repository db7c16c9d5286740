"""Knowledge-base type priors: E_t = Σ_i θ_i E_{C_t^i} over the Wikipedia entities C_t of each entity type t.

Steps (each a plain function; flows/build_type_priors.py runs them as Prefect tasks):
  kb.harvest.harvest             pages of a source (kb.sources: live API, XML dump, offline snapshot) into the warehouse
  kb.entities.extract_entities   parse and type pages under a scheme (kb.schemes), count in-links, collect aliases
  kb.build.weigh                 θ in SQL (kb/sql/theta.sql)
  kb.build.embed                 entity names through sentence-transformers, cached per (model, name)
  kb.build.aggregate             E_t per type and the build's content hash
kb.build.run_build chains them; kb.priors.load_type_priors reads a finished build for the model.
"""
