// nf-core style module: annotate one VCF (or one shard of it) with biblip.
process BIBLIP_ANNOTATE {
    tag "${meta.id}${meta.shard ? ' shard ' + meta.shard : ''}"
    label 'process_medium'
    // GPU nodes: set params.biblip_gpus = 1 (and task.ext.args = '--device cuda') in a config.
    accelerator params.biblip_gpus ?: 0

    input:
    tuple val(meta), path(vcf)
    path bundle
    path model

    output:
    tuple val(meta), path("*.biblip.vcf.gz")    , emit: vcf
    tuple val(meta), path("*.biblip.vcf.gz.tbi"), emit: tbi, optional: true
    tuple val(meta), path("*.biblip.tsv")       , emit: tsv
    path "versions.yml"                         , emit: versions

    when:
    task.ext.when == null || task.ext.when

    script:
    def args   = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: (meta.shard ? "${meta.id}.${meta.shard.replace('/', 'of')}" : "${meta.id}")
    def shard  = meta.shard ? "--shard ${meta.shard}" : ''
    """
    biblip annotate ${vcf} \\
        --bundle ${bundle} \\
        --model ${model} \\
        --threads ${task.cpus} \\
        ${shard} \\
        --output-type z \\
        -o ${prefix}.biblip.vcf.gz \\
        --tsv ${prefix}.biblip.tsv \\
        ${args}

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biblip: \$(biblip --version | sed 's/^biblip //')
    END_VERSIONS
    """

    stub:
    def args   = task.ext.args ?: ''
    def prefix = task.ext.prefix ?: (meta.shard ? "${meta.id}.${meta.shard.replace('/', 'of')}" : "${meta.id}")
    def shard  = meta.shard ? "--shard ${meta.shard}" : ''
    """
    echo "biblip annotate ${vcf} --bundle ${bundle} --model ${model} --threads ${task.cpus} ${shard} --output-type z -o ${prefix}.biblip.vcf.gz --tsv ${prefix}.biblip.tsv ${args}" > ${prefix}.command.txt
    echo "" | gzip > ${prefix}.biblip.vcf.gz
    touch ${prefix}.biblip.vcf.gz.tbi
    touch ${prefix}.biblip.tsv

    cat <<-END_VERSIONS > versions.yml
    "${task.process}":
        biblip: \$(biblip --version | sed 's/^biblip //')
    END_VERSIONS
    """
}
