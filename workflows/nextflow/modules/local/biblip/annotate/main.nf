// nf-core style module: annotate one VCF (or one shard of it) with biblip.
process BIBLIP_ANNOTATE {
    tag "${meta.id}"
    label 'process_medium'
    // GPU nodes: set params.biblip_gpus = 1 (and task.ext.args = '--device cuda') in a config.
    accelerator params.biblip_gpus ?: 0

    conda "${moduleDir}/environment.yml"
    // Built from workflows/container/Dockerfile (Apptainer: workflows/container/biblip.def); not published.
    container "biblip:0.1.0"

    input:
    tuple val(meta), path(vcf), val(shard)   // shard: '' for the whole file, or 'i/n'
    path bundle
    path model

    output:
    tuple val(meta), path("*.biblip.vcf.gz")    , emit: vcf
    tuple val(meta), path("*.biblip.vcf.gz.tbi"), emit: tbi, optional: true
    tuple val(meta), path("*.biblip.tsv")       , emit: tsv
    tuple val("${task.process}"), val('biblip'), eval("biblip --version | sed 's/^biblip //'"), topic: versions, emit: versions_biblip

    when:
    task.ext.when == null || task.ext.when

    script:
    def args      = task.ext.args ?: ''
    def prefix    = task.ext.prefix ?: "${meta.id}"
    def shard_arg = shard ? "--shard ${shard}" : ''
    """
    biblip annotate ${vcf} \\
        --bundle ${bundle} \\
        --model ${model} \\
        --threads ${task.cpus} \\
        ${shard_arg} \\
        --output-type z \\
        -o ${prefix}.biblip.vcf.gz \\
        --tsv ${prefix}.biblip.tsv \\
        ${args}
    """

    stub:
    def args      = task.ext.args ?: ''
    def prefix    = task.ext.prefix ?: "${meta.id}"
    def shard_arg = shard ? "--shard ${shard}" : ''
    """
    echo "biblip annotate ${vcf} --bundle ${bundle} --model ${model} --threads ${task.cpus} ${shard_arg} --output-type z -o ${prefix}.biblip.vcf.gz --tsv ${prefix}.biblip.tsv ${args}" > ${prefix}.command.txt
    echo "" | gzip > ${prefix}.biblip.vcf.gz
    touch ${prefix}.biblip.vcf.gz.tbi
    touch ${prefix}.biblip.tsv
    """
}
